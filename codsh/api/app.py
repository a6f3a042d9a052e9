"""The orchestrator's HTTP API (Starlette, under trio through anyio).

Every request carries `Authorization: Bearer TOKEN`; without a valid one it gets 401 and nothing
else. A user sees and controls only their own jobs (an admin's token: all of them); another
user's job is a 404, as if it did not exist. Errors are JSON `{"error": ..., "hint": ...}`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from codsh.api import data, datasets, images, names, nodes, web
from codsh.api.limits import OverLimit
from codsh.api.openapi import document
from codsh.api.service import Orchestrator, end_of
from codsh.api.tokens import TokenStore, User
from codsh.core.bill import bill
from codsh.core.manifest import excerpt
from codsh.core.spec import spec_from_request
from codsh.errors import CodshError, InputError, ServiceUnavailable
from codsh.jobs.resumable import kept_results
from codsh.jobs.states import RUNNING
from codsh.jobs.store import JobRecord

MAX_BODY = 1024 * 1024  # bytes of a request body: a spec is a few hundred
KEEPALIVE = 15.0  # seconds between comments on a quiet event stream (proxies drop idle ones)
Handler = Callable[[Request, User], Awaitable[Response]]


def error(status: int, message: str, hint: str = "", **headers: str) -> JSONResponse:
    return JSONResponse({"error": message, "hint": hint}, status, headers=headers or None)


def make_app(service: Orchestrator, tokens: TokenStore) -> Starlette:
    return Api(service, tokens).app()


class Api:
    """The routes, each behind the token check."""

    def __init__(self, service: Orchestrator, tokens: TokenStore) -> None:
        self.service = service
        self.tokens = tokens

    def authed(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            user = self.tokens.who(token.strip()) if scheme.lower() == "bearer" else None
            if user is None:
                return error(
                    401,
                    "no valid token: send `Authorization: Bearer TOKEN`",
                    "ask the orchestrator's operator for one (`codsh serve token add NAME`)",
                    **{"WWW-Authenticate": 'Bearer realm="codsh"'},
                )
            try:
                return await handler(request, user)
            except OverLimit as exc:
                return error(429, exc.message, exc.hint)
            except ServiceUnavailable as exc:
                return error(503, exc.message, exc.hint)
            except CodshError as exc:
                return error(400, exc.message, exc.hint)

        return endpoint

    def owned(self, job_id: str, user: User) -> JobRecord:
        record = self.service.store.get(job_id)
        if not user.admin and record.owner != user.name:
            raise InputError(f"no job {job_id!r}", "`GET /v1/jobs` lists yours")
        return record

    async def submit(self, request: Request, user: User) -> Response:
        body = await read_body(request)
        if isinstance(body, Response):
            return body
        name = body.pop("name", None) if isinstance(body, dict) else None
        if name is not None and not isinstance(name, str):
            raise InputError("name must be a string", "e.g. nightly")
        spec = spec_from_request(body)
        record = await self.service.submit(spec, user, name)
        return JSONResponse(public(record), 201)

    async def submit_pipe(self, request: Request, user: User) -> Response:
        """A pipeline: `stages` (commands, each maybe followed by "--concat"), `fuse`, `name`,
        and the spec's fields for every stage (input, image, limits, target)."""
        body = await read_body(request)
        if isinstance(body, Response):
            return body
        if not isinstance(body, dict):
            raise InputError("the pipeline must be a JSON object", "see /openapi.json")
        stages, fuse, name = (
            body.pop("stages", None),
            body.pop("fuse", True),
            body.pop("name", None),
        )
        if not isinstance(stages, list) or not all(isinstance(s, str) for s in stages):
            raise InputError(
                "stages must be a list of commands", 'e.g. ["grep Lisbon", "--concat"]'
            )
        if not isinstance(fuse, bool) or not (name is None or isinstance(name, str)):
            raise InputError("fuse must be true or false, and name a string", "see /openapi.json")
        first = replace(spec_from_request({**body, "command": "true"}), command="")
        record = await self.service.submit_pipeline(first, stages, fuse, user, name)
        return JSONResponse(public(record), 201)

    async def list_jobs(self, request: Request, user: User) -> Response:
        limit = int(request.query_params.get("limit", "50"))
        owner = None if user.admin else user.name
        records = self.service.store.recent(limit, request.query_params.get("name"), owner)
        return JSONResponse([public(r) for r in records])

    async def get_job(self, request: Request, user: User) -> Response:
        """The record, with the per-file failures recorded so far (what `job describe` shows)."""
        record = self.find(request, user)
        if isinstance(record, Response):
            return record
        store = self.service.store
        recorded, results = store.notable_results(record.id)  # not its successful reuses
        failures = [
            {"path": r.path, "node": r.node, "outcome": str(r.outcome), "error": r.error}
            | {"stderr": excerpt(r.stderr, 800)}
            for r in results
            if not r.ok
        ]
        stages = [
            s["job"] for s in json.loads(record.stages or "[]")
        ]  # a pipeline's are its stages'
        ran = [r for job in stages for r in store.notable_results(job)[1]]
        more = {"files_recorded": recorded, "failures": failures}
        more["bill"] = bill(ran or results)  # what `job describe` shows here (core/bill)
        return JSONResponse(public(record) | more)

    async def cancel(self, request: Request, user: User) -> Response:
        record = self.find(request, user)
        if isinstance(record, Response):
            return record
        if record.state != RUNNING or not self.service.cancel(record.id):
            return error(
                409, f"job {record.id} is not running ({record.state})", "nothing to cancel"
            )
        return JSONResponse({"job": record.id, "state": "cancelling"}, 202)

    async def resume(self, request: Request, user: User) -> Response:
        """Resume a stopped job (409 while it runs; 400 for a succeeded one or a pipeline)."""
        record = self.find(request, user)
        if isinstance(record, Response):
            return record
        try:
            resumed = await self.service.resume(record.id, user)
        except InputError as exc:
            running = self.service.store.get(record.id).state == RUNNING
            return error(409 if running else 400, exc.message, exc.hint)
        done = len(kept_results(self.service.store, resumed.id))
        return JSONResponse(public(resumed) | {"files_done": done}, 202)

    async def events(self, request: Request, user: User) -> Response:
        record = self.find(request, user)
        if isinstance(record, Response):
            return record
        return StreamingResponse(self.stream(record), media_type="text/event-stream")

    async def stream(self, record: JobRecord) -> AsyncIterator[str]:
        feed = self.service.feeds.get(record.id)
        if feed is None:  # ended (or never ran here): its end is all there is to say
            yield sse({"event": "end", **end_of(self.service.store.get(record.id))})
            return
        receive = feed.subscribe()
        yield sse(feed.progress())
        async with receive:
            while True:
                with trio.move_on_after(KEEPALIVE) as quiet:
                    try:
                        event = await receive.receive()
                    except trio.EndOfChannel:
                        return
                if quiet.cancelled_caught:
                    yield ": keep-alive\n\n"
                    continue
                yield sse(event)

    def find(self, request: Request, user: User) -> JobRecord | Response:
        try:
            return self.owned(request.path_params["job_id"], user)
        except InputError as exc:
            return error(404, exc.message, exc.hint)

    async def openapi(self, request: Request, user: User) -> Response:
        return JSONResponse(document())

    async def health(self, request: Request, user: User) -> Response:
        return JSONResponse({"ok": True, "user": user.name, "runs_on": self.service.where.runs_on})

    def app(self) -> Starlette:
        authed = self.authed
        routes = [
            Route("/openapi.json", authed(self.openapi)),
            Route("/v1/health", authed(self.health)),
            Route("/v1/jobs", authed(self.submit), methods=["POST"]),
            Route("/v1/jobs", authed(self.list_jobs), methods=["GET"]),
            Route("/v1/pipes", authed(self.submit_pipe), methods=["POST"]),
            Route("/v1/jobs/{job_id}", authed(self.get_job)),
            Route("/v1/jobs/{job_id}/cancel", authed(self.cancel), methods=["POST"]),
            Route("/v1/jobs/{job_id}/resume", authed(self.resume), methods=["POST"]),
            Route("/v1/jobs/{job_id}/events", authed(self.events)),
        ]
        routes += data.routes(self)
        routes += datasets.routes(self)
        routes += nodes.routes(self)
        routes += images.routes(self)
        routes += names.routes(self)
        routes += web.routes(self)
        return Starlette(routes=routes)


async def read_body(request: Request) -> Any:
    """The request's JSON, or the error response that says why it is not acceptable."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        return error(413, f"the body is larger than {MAX_BODY} bytes", "a job spec is small")
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            return error(413, f"the body is larger than {MAX_BODY} bytes", "a job spec is small")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        return error(400, f"the body is not JSON: {exc}", "send the job spec as a JSON object")


def public(record: JobRecord) -> dict[str, Any]:
    """A job record as the API shows it (the driver's pid is the orchestrator's business)."""
    fields = record.as_dict()
    fields.pop("pid", None)
    return fields


def sse(event: dict[str, Any]) -> str:
    kind = event.get("event", "message")
    return f"event: {kind}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
