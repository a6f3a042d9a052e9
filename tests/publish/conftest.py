"""A real S3 server for the publisher tests: versitygw (built by `make setup` into .tools/bin/)
serving a temporary POSIX directory on a random loopback port, with throwaway keys.

`s3` is one server for the module (restartable: the server-dies test kills it); `s3_env` points
boto3 (and a `codsh` subprocess) at it through the usual AWS variables.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from codsh.kubo_daemon import KuboProcess

VERSITYGW = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "versitygw"
ACCESS, SECRET = "codsh-test-access", "codsh-test-secret-0123456789"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class S3Server:
    root: Path
    port: int = field(default_factory=_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [str(VERSITYGW), "--access", ACCESS, "--secret", SECRET, "--quiet"]
        command += ["--port", f"127.0.0.1:{self.port}", "posix", str(self.root)]
        log = (self.root.parent / "versitygw.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                assert self.process.poll() is None, (self.root.parent / "versitygw.log").read_text()
                time.sleep(0.05)
        raise AssertionError("versitygw did not listen within 20 s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": ACCESS,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",  # nothing from the user's own ~/.aws
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            **extra,
        }

    def client(self) -> Any:
        import boto3

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=ACCESS,
            aws_secret_access_key=SECRET,
            region_name="us-east-1",
        )


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    if not VERSITYGW.exists():
        pytest.fail(f"{VERSITYGW} is missing: run `make setup` (it builds versitygw)")
    root = tmp_path_factory.mktemp("s3") / "root"
    root.mkdir()
    server = S3Server(root)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def s3_env(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The AWS variables for `s3`, set in this process too (the publishers read them)."""
    if s3.process is None or s3.process.poll() is not None:
        s3.start()  # a test killed it
    values = s3.env()
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "CODSH_S3_PART_SIZE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def bucket(s3: S3Server, s3_env: dict[str, str], request: pytest.FixtureRequest) -> str:
    """A new empty bucket for the test."""
    name = "t-" + "".join(c for c in request.node.name.lower() if c.isalnum())[:40]
    name = f"{name}-{os.getpid() % 10000}-{int(time.monotonic() * 1000) % 100000}"
    s3.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def env(kubo: KuboProcess, codsh_home: Path, s3_env: dict[str, str]) -> dict[str, str]:
    """A `codsh` subprocess's environment: the session's kubo, and the S3 server."""
    return {**os.environ, "CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(codsh_home), **s3_env}
