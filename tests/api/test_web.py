"""The orchestrator's web page against a real `codsh serve`, real kubo and Docker: the login
cookie, who sees which job, HTML escaping (plain HTTP), and a running job's page followed live in
a real headless browser (Debian's chromium, driven over the Chrome DevTools protocol)."""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)

from tests.api.conftest import Orchestrator
from tests.commands.cli import Tree, add


class Browser:
    """Headless chromium with one tab, driven over the DevTools protocol: a blocking client on
    a plain socket, with wsproto for the WebSocket framing (no browser-driver package)."""

    def __init__(self, profile: Path) -> None:
        binary = shutil.which("chromium")
        if binary is None:
            pytest.fail("chromium is not installed: `make setup` installs Debian's chromium")
        args = [binary, "--headless=new", "--remote-debugging-port=0", f"--user-data-dir={profile}"]
        args += ["--no-first-run", "--no-default-browser-check", "--disable-gpu"]
        args += ["--disable-extensions", "--window-size=1280,1000", "about:blank"]
        if os.geteuid() == 0:  # chromium's sandbox refuses root
            args.insert(1, "--no-sandbox")
        self.log = (profile.parent / "chromium.log").open("wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        port, path = self._endpoint(profile / "DevToolsActivePort")
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.inbox: deque[dict[str, Any]] = deque()
        self.partial = ""
        self.accepted = False
        self.sock.sendall(self.ws.send(Request(host=f"127.0.0.1:{port}", target=path)))
        while not self.accepted:
            self._pump()
        self.last_id = 0
        self.session: str | None = None
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def _endpoint(self, active_port: Path) -> tuple[int, str]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            lines = active_port.read_text().split() if active_port.exists() else []
            if len(lines) == 2:
                return int(lines[0]), lines[1]
            assert self.proc.poll() is None, f"chromium exited: see {self.log.name}"
            time.sleep(0.05)
        raise AssertionError("chromium did not open its DevTools port")

    def _pump(self) -> None:
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("chromium closed the DevTools connection")
        self.ws.receive_data(data)
        for event in self.ws.events():
            self._take(event)

    def _take(self, event: Event) -> None:
        if isinstance(event, AcceptConnection):
            self.accepted = True
        elif isinstance(event, TextMessage):
            self.partial += event.data
            if event.message_finished:
                self.inbox.append(json.loads(self.partial))
                self.partial = ""
        elif isinstance(event, Ping):
            self.sock.sendall(self.ws.send(event.response()))
        elif isinstance(event, RejectConnection | CloseConnection):
            raise ConnectionError(f"DevTools connection ended: {event}")

    def _send(self, method: str, params: dict[str, Any]) -> int:
        self.last_id += 1
        message: dict[str, Any] = {"id": self.last_id, "method": method, "params": params}
        if self.session is not None and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        self.sock.sendall(self.ws.send(TextMessage(json.dumps(message))))
        return self.last_id

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command; its result (events that come meanwhile are noted or dropped)."""
        wanted = self._send(method, params)
        while True:
            while not self.inbox:
                self._pump()
            message = self.inbox.popleft()
            self._note(message)
            if message.get("id") == wanted:
                assert "error" not in message, f"{method}: {message['error']}"
                return dict(message["result"])

    def _note(self, message: dict[str, Any]) -> None:
        """Keep what says the page went wrong: a dialog (alert() run by an escaping bug), an
        uncaught exception, an error in the console or the log (a CSP violation, a 404)."""
        method, params = message.get("method"), message.get("params", {})
        if method == "Page.javascriptDialogOpening":
            self.dialogs.append(params["message"])
            self._send("Page.handleJavaScriptDialog", {"accept": False})
        elif method == "Runtime.exceptionThrown":
            self.errors.append(json.dumps(params["exceptionDetails"]))
        elif method == "Runtime.consoleAPICalled" and params["type"] == "error":
            self.errors.append(json.dumps(params["args"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(f"{params['entry'].get('url', '')}: {params['entry']['text']}")

    def evaluate(self, expression: str) -> Any:
        reply = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in reply, (expression, reply["exceptionDetails"])
        return reply["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"still false after {timeout}s: {expression}")

    def open(self, url: str) -> None:
        """Go to `url` (and wherever it redirects); back when the new page has loaded."""
        self.evaluate("window.leftBehind = true")  # gone with the old document
        self.call("Page.navigate", url=url)
        self.wait_for("!window.leftBehind && document.readyState === 'complete'")

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(
            base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        )
        return path

    def close(self) -> None:
        try:
            self._send("Browser.close", {})
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            self.sock.close()
            self.log.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    started = Browser(profile)
    try:
        yield started
    finally:
        started.close()


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


OPENER = urllib.request.build_opener(NoRedirects)


def page(
    orchestrator: Orchestrator,
    path: str,
    user: str | None = None,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Message, str]:
    """One request as a browser makes it (`user`'s login cookie; a form is POSTed): its status,
    headers and text; redirects are not followed."""
    data = None if form is None else urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(orchestrator.url + path, data=data, headers=headers or {})
    if user is not None:
        request.add_header("Cookie", f"codsh_token={orchestrator.tokens[user]}")
    try:
        with OPENER.open(request, timeout=60) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode()


def submit(orchestrator: Orchestrator, spec: dict[str, Any], user: str = "alice") -> str:
    status, job = orchestrator.call("POST", "/v1/jobs", user, body=spec)
    assert status == 201, job
    return str(job["id"])


def test_the_pages_send_a_visitor_without_a_login_to_the_form(orchestrator: Orchestrator) -> None:
    status, headers, _ = page(orchestrator, "/")
    assert status == 303 and headers["Location"] == "/login?next=%2F"
    status, headers, _ = page(orchestrator, "/jobs/abc")
    assert status == 303 and headers["Location"] == "/login?next=%2Fjobs%2Fabc"
    assert page(orchestrator, "/jobs/abc/events")[0] == 401
    status, headers, text = page(orchestrator, "/login")
    assert status == 200 and '<form class="login" method="post"' in text
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert page(orchestrator, "/static/web.js")[1]["Content-Type"].startswith("text/javascript")
    # a revoked (or made-up) token in the cookie: back to the form, and the cookie is dropped
    status, headers, _ = page(orchestrator, "/", headers={"Cookie": "codsh_token=codsh_nope"})
    assert status == 303 and 'codsh_token=""' in headers["Set-Cookie"]


def test_logging_in_checks_the_token_and_keeps_it_in_a_strict_httponly_cookie(
    orchestrator: Orchestrator,
) -> None:
    status, headers, text = page(orchestrator, "/login", form={"token": "codsh_bad", "next": "/"})
    assert status == 401 and "not valid" in text and '<form class="login"' in text
    assert "Set-Cookie" not in headers and "codsh_bad" not in text
    token = orchestrator.tokens["alice"]
    status, headers, _ = page(orchestrator, "/login", form={"token": token, "next": "/jobs/x"})
    assert status == 303 and headers["Location"] == "/jobs/x"
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"codsh_token={token};") and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    status, _, text = page(orchestrator, "/", user="alice")
    assert status == 200 and "<h1>Jobs</h1>" in text and "alice" in text
    # only to this site: another site's form is refused, and so is a `next` elsewhere
    evil = {"Origin": "http://evil.example"}
    status, headers, _ = page(orchestrator, "/login", form={"token": token}, headers=evil)
    assert status == 403 and "Set-Cookie" not in headers
    for elsewhere in ("//evil.example/", "http://evil.example/", "/\\evil.example"):
        form = {"token": token, "next": elsewhere}
        assert page(orchestrator, "/login", form=form)[1]["Location"] == "/"
    # the cookie opens the pages, not the JSON API (which keeps requiring the header)
    assert page(orchestrator, "/v1/jobs", user="alice")[0] == 401
    status, headers, _ = page(orchestrator, "/logout", user="alice")
    assert status == 303 and headers["Location"] == "/login"
    assert 'codsh_token=""' in headers["Set-Cookie"] and "Max-Age=0" in headers["Set-Cookie"]


def test_another_users_job_page_is_a_404(orchestrator: Orchestrator, tmp_path: Path) -> None:
    source = add(orchestrator.env, tmp_path / "in", {"a.txt": b"a\n"})
    job = submit(orchestrator, {"command": "cat", "input": source})
    record = orchestrator.wait(job)
    status, _, text = page(orchestrator, f"/jobs/{job}", user="alice")
    assert status == 200 and record["output"] in text and record["manifest"] in text
    assert page(orchestrator, f"/jobs/{job}", user="bob")[0] == 404
    assert page(orchestrator, f"/jobs/{job}/events", user="bob")[0] == 404
    assert f'data-job="{job}"' not in page(orchestrator, "/", user="bob")[2]
    assert f'data-job="{job}"' in page(orchestrator, "/", user="admin")[2]
    assert page(orchestrator, f"/jobs/{job}", user="admin")[0] == 200


def test_commands_paths_and_stderr_are_shown_as_text(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    name = "<img src=x onerror=alert(1)>.txt"
    source = add(orchestrator.env, tmp_path / "in", {name: b"x\n"})
    command = "echo '<script>alert(2)</script>' >&2; exit 3"
    job = submit(orchestrator, {"command": command, "input": source})
    assert orchestrator.wait(job)["state"] == "partial"
    listing = page(orchestrator, "/", user="alice")[2]
    shown = page(orchestrator, f"/jobs/{job}", user="alice")[2]
    for text in (listing, shown):
        assert "<script>alert" not in text and "&lt;script&gt;alert(2)&lt;/script&gt;" in text
    assert "<img src=x" not in shown and "&lt;img src=x onerror=alert(1)&gt;.txt" in shown
    assert shown.count("&lt;script&gt;alert(2)") == 2  # the command and the failure's stderr
    status, _, text = page(orchestrator, "/jobs/%3Cb%3Ehi", user="alice")
    assert status == 404 and "<b>hi" not in text and "&lt;b&gt;hi" in text


@pytest.mark.slow
def test_a_running_job_page_moves_live_then_shows_the_final_cid(
    orchestrator: Orchestrator, browser: Browser, tmp_path: Path
) -> None:
    base = orchestrator.url
    browser.open(base + "/")  # not logged in: the form
    browser.wait_for("location.pathname === '/login' && !!document.getElementById('token')")
    browser.evaluate("document.getElementById('token').focus()")
    browser.call("Input.insertText", text=orchestrator.tokens["alice"])
    browser.evaluate("document.querySelector('form.login button').click()")
    browser.wait_for("location.pathname === '/' && !!document.querySelector('h1')")
    # six files, one at a time, a second each; the first (empty, a tricky name) fails
    tree: Tree = {"a<i>empty</i>.log": b""}
    tree |= {f"f{i}.txt": f"{i}\n".encode() for i in range(5)}
    source = add(orchestrator.env, tmp_path / "in", tree)
    target = {"slots": 1, "memo": False}  # ok_exit [0]: grep's "no match" on the empty file fails
    spec = {"command": "sleep 1; grep .", "input": source, "target": target, "ok_exit": [0]}
    job = submit(orchestrator, spec)
    browser.open(base + "/")
    row = f"document.querySelector('tr[data-job=\"{job}\"]')"
    assert browser.wait_for(f"{row} && {row}.querySelector('.state').textContent") == "running"
    browser.evaluate(f"{row}.querySelector('a').click()")
    browser.wait_for(f"location.pathname === '/jobs/{job}' && !!document.getElementById('bar')")
    seen = watch_progress(browser)
    running = [value for value, state in seen if state == "running"]
    assert any(b > a for a, b in itertools.pairwise(running)), seen  # it moved while running
    record = orchestrator.wait(job)
    assert record["state"] == "partial" and record["files"] == 6 and record["output"]
    browser.wait_for(f"document.getElementById('output').textContent === '{record['output']}'")
    browser.wait_for("document.getElementById('job').dataset.live === '0'")  # the page refreshed
    assert browser.evaluate("document.getElementById('state').textContent") == "partial"
    assert browser.evaluate("document.getElementById('manifest').textContent") == record["manifest"]
    assert browser.evaluate("document.getElementById('bar').value") == 6
    nodes = "Array.from(document.querySelectorAll('#nodes tbody td'), td => td.textContent)"
    assert browser.evaluate(nodes)[:3] == ["this machine", "6", "1"]
    failure = "document.querySelector('#failure-list code.path').textContent"
    assert browser.evaluate(failure) == "a<i>empty</i>.log"
    assert browser.evaluate("document.querySelectorAll('#job i').length") == 0
    assert browser.dialogs == [] and browser.errors == []
    shot = browser.screenshot(tmp_path / "job-page.png")
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    print(f"screenshot of the job page: {shot}")
    browser.open(base + "/")
    assert record["output"] in browser.evaluate(f"{row}.textContent")


def watch_progress(browser: Browser, timeout: float = 120) -> list[tuple[float, str]]:
    """The progress bar's value and the job's state, sampled until the state is not running."""
    sample = "[document.getElementById('bar').value, document.getElementById('state').textContent]"
    seen: list[tuple[float, str]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value, state = browser.evaluate(sample)
        if not seen or seen[-1] != (value, state):
            seen.append((value, state))
        if state != "running":
            return seen
        time.sleep(0.1)
    raise AssertionError(f"the page still shows the job running after {timeout}s: {seen}")
