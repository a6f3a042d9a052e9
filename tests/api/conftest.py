"""A real orchestrator for the API tests: `codsh serve` in a subprocess on a free loopback port,
against the session's kubo and the real Docker engine, with tokens for alice, bob and an admin."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from codsh.kubo_daemon import KuboProcess
from tests.commands.cli import CODSH


@dataclass
class Orchestrator:
    url: str
    tokens: dict[str, str]
    env: dict[str, str]
    home: Path

    def call(
        self,
        method: str,
        path: str,
        user: str | None = "alice",
        body: object = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One request; the status and the decoded JSON body (or the text when it is not JSON)."""
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if user is not None:
            request.add_header("Authorization", f"Bearer {self.tokens[user]}")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def events(self, job: str, user: str = "alice") -> list[dict[str, Any]]:
        """A job's event stream, read to its end."""
        request = urllib.request.Request(f"{self.url}/v1/jobs/{job}/events")
        request.add_header("Authorization", f"Bearer {self.tokens[user]}")
        found = []
        with urllib.request.urlopen(request, timeout=120) as response:
            for line in response:
                if line.startswith(b"data: "):
                    found.append(json.loads(line[6:]))
        return found

    def wait(self, job: str, user: str = "alice", timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, record = self.call("GET", f"/v1/jobs/{job}", user)
            assert status == 200, record
            if record["state"] != "running":
                return dict(record)
            time.sleep(0.2)
        raise AssertionError(f"job {job} still running after {timeout}s")


def codsh(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([CODSH, *args], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def orchestrator(
    kubo: KuboProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Orchestrator]:
    home = tmp_path_factory.mktemp("serve-home")
    env = {**os.environ, "CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(home)}
    env.pop("CODSH_SCHEDULER", None)
    tokens = {user: codsh(env, "serve", "token", "add", user) for user in ("alice", "bob")}
    tokens["admin"] = codsh(env, "serve", "token", "add", "admin", "--admin")
    log = (home / "serve.log").open("wb")
    proc = subprocess.Popen(
        [CODSH, "serve", "--bind", "127.0.0.1:0", "--max-running", "3"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    address = home / "serve.json"
    deadline = time.monotonic() + 30
    while not address.exists():
        assert proc.poll() is None, (home / "serve.log").read_text()
        assert time.monotonic() < deadline, "codsh serve did not start"
        time.sleep(0.1)
    url = json.loads(address.read_text())["api"]
    try:
        yield Orchestrator(url, tokens, env, home)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
