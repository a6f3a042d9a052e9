"""kubo's answers to requests without a body (a file's bytes), read in large pieces.

The socket is read in pieces of up to a MiB and each read's body bytes go on as one piece
(chunked.py), instead of one per ~4 KiB HTTP chunk as kubo writes them. Connections are kept
open between requests: a request per file must not cost a TCP handshake and a socket left in
TIME_WAIT each.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager

import trio

from codsh.ipfs.chunked import Answer, Head, ProtocolError
from codsh.ipfs.duplex import Lost, connect

RECEIVE = 1 << 20  # bytes asked of the socket at once
KEEP = 16  # idle connections kept


class Body:
    """An answer being read: its head, then its body's pieces (`pieces`, once)."""

    def __init__(self, stream: trio.abc.Stream, answer: Answer, head: Head, first: bytes) -> None:
        self.head = head
        self._stream, self._answer, self._first = stream, answer, first

    @property
    def reusable(self) -> bool:
        return self._answer.reusable

    async def pieces(self) -> AsyncGenerator[bytes, None]:
        if self._first:
            yield self._first
        while not self._answer.done:
            piece = await _read(self._stream, self._answer)
            if piece:
                yield piece

    async def read(self, limit: int) -> bytes:
        """The whole body (an error's), at most `limit` bytes of it."""
        data = b""
        async for piece in self.pieces():
            data += piece[: limit - len(data)]
        return data


class Reader:
    """Requests to one server, on connections it keeps between them."""

    def __init__(self, scheme: str, host: str, port: int | None, connect_timeout: float) -> None:
        self._scheme, self._host, self._port = scheme, host, port
        self._timeout = connect_timeout
        name = f"[{host}]" if ":" in host else host  # an IPv6 address
        self._netloc = name if port is None else f"{name}:{port}"
        self._idle: list[trio.abc.Stream] = []

    @asynccontextmanager
    async def post(self, target: str) -> AsyncIterator[Body]:
        """POST `target` (no body); the answer, its head read. Raises duplex.Unreachable (no
        connection) or duplex.Lost (it broke, or the answer is not HTTP)."""
        stream, body = await self._ask(target)
        try:
            yield body
        finally:
            if body.reusable and len(self._idle) < KEEP:
                self._idle.append(stream)
            else:
                await trio.aclose_forcefully(stream)

    async def _ask(self, target: str) -> tuple[trio.abc.Stream, Body]:
        request = (
            f"POST {target} HTTP/1.1\r\nHost: {self._netloc}\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        while True:
            reused = bool(self._idle)
            stream = self._idle.pop() if reused else await self._connect()
            try:
                return stream, await _head(stream, request)
            except Lost:
                await trio.aclose_forcefully(stream)
                if not reused:  # a kept connection the server has closed since: a new one
                    raise
            except BaseException:
                await trio.aclose_forcefully(stream)
                raise

    async def _connect(self) -> trio.abc.Stream:
        return await connect(self._scheme, self._host, self._port, self._timeout)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for stream in idle:
            await trio.aclose_forcefully(stream)


async def _head(stream: trio.abc.Stream, request: bytes) -> Body:
    answer = Answer()
    try:
        await stream.send_all(request)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
        raise Lost(f"{type(exc).__name__}: {exc}") from exc
    first = b""
    while answer.head is None:
        first = await _read(stream, answer)
    return Body(stream, answer, answer.head, first)


async def _read(stream: trio.abc.Stream, answer: Answer) -> bytes:
    """The body bytes of the socket's next read."""
    try:
        data = await stream.receive_some(RECEIVE)
        if not data:
            answer.closed()
        return answer.feed(bytes(data))
    except ProtocolError as exc:
        raise Lost(str(exc)) from exc
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
        raise Lost(f"{type(exc).__name__}: {exc}") from exc
