"""The orchestrator's web page: the jobs (`GET /`) and a job page that follows a running job live
(`GET /jobs/ID`), server-rendered (codsh/api/static), behind the same tokens as the API.

Logging in (`POST /login`) checks the token and keeps it in a cookie: HttpOnly (no script reads
it), SameSite=Strict (no other site's page or form makes the browser send it), Secure over https.
Only these page routes take the cookie; the JSON API under /v1 keeps requiring the
`Authorization` header, so the cookie cannot submit or cancel anything. Every page route is a GET
that changes nothing; the one form, `POST /login`, refuses a request another site sent (its
`Origin`), so no site can log a visitor in as someone else. A revoked token is refused at once:
the cookie holds the token itself, checked on every request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlsplit

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from codsh.api.static import assets, pages
from codsh.api.static.pages import Failure, Results
from codsh.api.tokens import User
from codsh.core.manifest import excerpt
from codsh.core.model import FileResult
from codsh.errors import CodshError, InputError
from codsh.jobs.states import RUNNING

if TYPE_CHECKING:
    from codsh.api.app import Api

COOKIE = "codsh_token"
LIST_LIMIT = 200  # jobs on the list page
FAILURES_SHOWN = 100  # failures on a job page (the rest: `codsh job logs`)
STDERR_SHOWN = 800  # characters of each failure's stderr, as GET /v1/jobs/ID gives them
MAX_FORM = 8 * 1024  # bytes of a login form: a token and a path
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
PageHandler = Callable[[Request, User], Awaitable[Response]]


def routes(api: Api) -> list[Route]:
    web = Web(api)
    return [
        Route("/", web.page(web.jobs)),
        Route("/login", web.login_form, methods=["GET"]),
        Route("/login", web.login, methods=["POST"]),
        Route("/logout", web.logout),
        Route("/jobs/{job_id}", web.page(web.job)),
        Route("/jobs/{job_id}/events", web.events),
        Route("/static/web.js", asset(assets.JS, "text/javascript")),
        Route("/static/web.css", asset(assets.CSS, "text/css")),
        Route("/static/icon.svg", asset(assets.ICON, "image/svg+xml")),
    ]


def html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status, headers=HEADERS)


def asset(text: str, media_type: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        return Response(text, media_type=media_type, headers=headers)

    return endpoint


class Web:
    def __init__(self, api: Api) -> None:
        self.api = api

    def user(self, request: Request) -> User | None:
        """Whose request: by its bearer header (as the API), else by the login cookie."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return self.api.tokens.who(token.strip())
        cookie = request.cookies.get(COOKIE)
        return self.api.tokens.who(cookie) if cookie else None

    def page(self, handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
        """`handler` for a logged-in user; anyone else is sent to the login form."""

        async def endpoint(request: Request) -> Response:
            user = self.user(request)
            if user is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = RedirectResponse(f"/login?next={quote(target, safe='')}", 303)
                if COOKIE in request.cookies:  # revoked, or from another orchestrator: drop it
                    forget(request, response)
                return response
            try:
                return await handler(request, user)
            except InputError as exc:  # e.g. another user's job: as if it did not exist
                return html(message("Not found", exc, user), 404)
            except CodshError as exc:
                return html(message("Error", exc, user), 400)

        return endpoint

    async def login_form(self, request: Request) -> Response:
        target = safe_next(request.query_params.get("next", "/"))
        if self.user(request) is not None:
            return RedirectResponse(target, 303)
        return html(pages.layout("Log in", pages.login_form(target)))

    async def login(self, request: Request) -> Response:
        """Check the token; a good one goes in the cookie, a bad one gets the form again (401)."""
        if not same_site(request):
            message = "this form was sent from another site: log in from this page"
            return html(pages.layout("Log in", pages.login_form("/", message)), 403)
        fields = await read_form(request)
        target = safe_next(fields.get("next", "/"))
        token = fields.get("token", "").strip()
        user = self.api.tokens.who(token) if token else None
        if user is None:
            message = "that token is not valid (or it was revoked)"
            return html(pages.layout("Log in", pages.login_form(target, message)), 401)
        response = RedirectResponse(target, 303)
        response.set_cookie(
            COOKIE,
            token,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/login", 303)
        forget(request, response)
        return response

    async def jobs(self, request: Request, user: User) -> Response:
        owner = None if user.admin else user.name
        records = self.api.service.store.recent(LIST_LIMIT, owner=owner)
        feeds = self.api.service.feeds
        rows = [(r, feeds[r.id].progress() if r.id in feeds else None) for r in records]
        return html(pages.layout("Jobs", pages.job_list(rows, time.time()), user))

    async def job(self, request: Request, user: User) -> Response:
        record = self.api.owned(request.path_params["job_id"], user)
        feed = self.api.service.feeds.get(record.id) if record.state == RUNNING else None
        live = feed.progress() if feed is not None else None
        store = self.api.service.store
        found = await anyio.to_thread.run_sync(store.results, record.id)
        summary = summarize(found.values())
        if live is not None and "nodes" in live:  # the feed's counts: exact, the store lags
            summary.nodes = {node: list(counts) for node, counts in live["nodes"].items()}
        body = pages.job_page(record, live, summary)
        return html(pages.layout(f"Job {record.id}", body, user))

    async def events(self, request: Request) -> Response:
        """The job's events, as /v1/jobs/ID/events streams them, for the page's EventSource."""
        user = self.user(request)
        if user is None:
            return PlainTextResponse("log in first: /login", 401)
        try:
            record = self.api.owned(request.path_params["job_id"], user)
        except InputError as exc:
            return PlainTextResponse(exc.message, 404)
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        stream = self.api.stream(record)
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


def message(title: str, exc: CodshError, user: User) -> str:
    return pages.layout(title, pages.message_page(title, exc.message, exc.hint), user)


def summarize(results: Iterable[FileResult]) -> Results:
    """Per-node counts and the first failures (by path) of recorded per-file results."""
    summary = Results()
    failed: list[FileResult] = []
    for result in results:
        counts = summary.nodes.setdefault(result.node, [0, 0])
        counts[0] += 1
        if not result.ok:
            counts[1] += 1
            failed.append(result)
    summary.failed = len(failed)
    for result in sorted(failed, key=lambda r: r.path)[:FAILURES_SHOWN]:
        stderr = excerpt(result.stderr, STDERR_SHOWN)
        summary.failures.append(
            Failure(result.path, result.node, str(result.outcome), result.error or "", stderr)
        )
    return summary


def forget(request: Request, response: Response) -> None:
    secure = request.url.scheme == "https"
    response.delete_cookie(COOKIE, path="/", secure=secure, httponly=True, samesite="strict")


def safe_next(target: str) -> str:
    """Where to go after logging in: a path on this site only (no `//host`, no scheme)."""
    parts = urlsplit(target)
    local = target.startswith("/") and not target.startswith("//") and "\\" not in target
    if not local or parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return "/"
    return target


def same_site(request: Request) -> bool:
    """Whether a form post came from this site: its Origin (which browsers send with every
    POST) names this host; without one, what the browser's Sec-Fetch-Site says."""
    origin = request.headers.get("origin")
    if origin is None:
        return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")
    return urlsplit(origin).netloc == request.headers.get("host", "") != ""


async def read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form's fields (first value each); a larger body reads as empty."""
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_FORM:
            return {}
    try:
        fields = parse_qs(data.decode("utf-8", "replace"), max_num_fields=20)
    except ValueError:  # more fields than a login form has
        return {}
    return {key: values[0] for key, values in fields.items()}
