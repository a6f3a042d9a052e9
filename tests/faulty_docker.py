"""A fault-injecting proxy in front of the real Docker engine, for deterministic infrastructure faults.

`FaultyDocker` listens on a Unix socket of its own and forwards every connection byte for byte to
the engine's socket, except the container-create requests that `fail(n)` picks (`n` counts them
from 1): those it answers itself with `HTTP/1.1 500` and a JSON `{"message": ...}` body, as an
engine that cannot create a container would. Nothing else is changed or faked: point a
`docker.DockerClient(base_url=proxy.url)` at it and every other call reaches the real engine.

docker-py keeps connections alive and sends one request at a time on each, so each client->engine
stream is parsed as a sequence of requests (head up to CRLFCRLF, then Content-Length bytes); a
request the engine answers is forwarded unchanged, and responses stream back unchanged. A
connection that turns into something else (chunked upload, protocol upgrade) is then copied raw.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

CREATE = re.compile(rb"^POST /v[0-9.]+/containers/create[?\s]")
ENGINE = "/var/run/docker.sock"


def engine_socket() -> str:
    """The real engine's socket: DOCKER_HOST's when it names one, else the default."""
    host = os.environ.get("DOCKER_HOST", "")
    return host.removeprefix("unix://") if host.startswith("unix://") else ENGINE


class FaultyDocker:
    """The proxy; a context manager. `creates` counts the create requests seen, `failed` those
    answered with the fault. `delay` seconds pass before a fault is answered (a real engine that
    fails takes some time too; it lets work already handed to kubo settle first)."""

    def __init__(
        self,
        fail: Callable[[int], bool],
        message: str = "injected fault: no container for you",
        delay: float = 0.5,
        engine: str | None = None,
    ) -> None:
        self._fail = fail
        self._message = message
        self._delay = delay
        self._engine = engine or engine_socket()
        self._dir = tempfile.mkdtemp(prefix="codsh-dock-")  # short: socket paths max ~107 bytes
        self.path = str(Path(self._dir) / "docker.sock")
        self.url = "unix://" + self.path
        self._lock = threading.Lock()
        self.creates = 0
        self.failed = 0
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        self._server.listen(64)
        self._stopped = False
        self._sockets: list[socket.socket] = [self._server]
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._stopped = True
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
            os.rmdir(self._dir)

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            engine.connect(self._engine)
            self._sockets += [client, engine]
            writing = threading.Lock()  # our own answers and the engine's never interleave
            threading.Thread(
                target=self._requests, args=(client, engine, writing), daemon=True
            ).start()
            threading.Thread(target=_copy, args=(engine, client, writing), daemon=True).start()

    def _pick(self, head: bytes) -> bool:
        """Whether to fail this request (counting container creates)."""
        if not CREATE.match(head):
            return False
        with self._lock:
            self.creates += 1
            fail = self._fail(self.creates)
            self.failed += fail
        return fail

    def _requests(
        self, client: socket.socket, engine: socket.socket, writing: threading.Lock
    ) -> None:
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = client.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                headers = _headers(head)
                if "content-length" not in headers and (
                    "transfer-encoding" in headers or "upgrade" in headers
                ):
                    engine.sendall(head + b"\r\n\r\n" + buffer)  # not a request we can frame
                    _copy(client, engine, None)
                    return
                length = int(headers.get("content-length", "0"))
                while len(buffer) < length:
                    data = client.recv(65536)
                    if not data:
                        return
                    buffer += data
                body, buffer = buffer[:length], buffer[length:]
                if self._pick(head):
                    time.sleep(self._delay)
                    with writing:
                        client.sendall(_error(self._message))
                else:
                    engine.sendall(head + b"\r\n\r\n" + body)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                engine.shutdown(socket.SHUT_WR)


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    pairs = (line.split(":", 1) for line in lines if ":" in line)
    return {name.strip().lower(): value.strip() for name, value in pairs}


def _error(message: str) -> bytes:
    body = json.dumps({"message": message}).encode()
    head = (
        "HTTP/1.1 500 Internal Server Error\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _copy(source: socket.socket, sink: socket.socket, writing: threading.Lock | None) -> None:
    try:
        while data := source.recv(65536):
            if writing is None:
                sink.sendall(data)
            else:
                with writing:
                    sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
