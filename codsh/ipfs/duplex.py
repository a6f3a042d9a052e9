"""One HTTP/1.1 POST whose body and answer stream at the same time, for kubo's `add`.

kubo answers an add with a JSON line per file while it still reads the body. A client that sends
its whole body before it reads (httpcore does) fills both socket queues past ~40,000 files, and
then both sides wait for ever. Here one task sends while another reads, on a connection of its own
(h11 does the framing), and a watch ends the request when kubo has neither taken bytes nor sent
any for `stall` seconds while we wait on it (waiting for our own body's next bytes does not count)
and then does not answer a probe either: a kubo pinning a large tree is silent, but it answers.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import h11
import trio

SILENCE_CAP = 10  # stall periods a server that still answers its probe may stay silent
HELD = 1024 * 1024  # body bytes read ahead of the socket (small parts then go in one write)
GATHER = 64 * 1024  # a write this big does not linger for more
RECEIVE = 64 * 1024


class Unreachable(Exception):
    """The connection could not be opened."""


class Lost(Exception):
    """The connection broke, or the answer was not HTTP, before the answer ended."""


class Stalled(Exception):
    """The server took no byte and sent none for `seconds` while we waited on it, and then did
    not answer the probe either (`answering` False), or did but stayed silent SILENCE_CAP times
    that long (`answering` True: alive, its request stuck)."""

    def __init__(self, seconds: float, answering: bool) -> None:
        super().__init__(f"no progress for {seconds:g}s")
        self.seconds = seconds
        self.answering = answering


@dataclass
class Answer:
    """The server's answer: its status, its body when not 200 (the error), its trailers."""

    status: int = 0
    error_body: bytes = b""
    trailers: dict[str, str] = field(default_factory=dict)


class _Pipe:
    """Body bytes from the producer to the sender. The sender takes all that is held at once, so
    many small parts go out in one write (a write per part costs more than kubo takes to store a
    tiny file); the producer waits while HELD bytes or more are held."""

    def __init__(self) -> None:
        self._held: list[bytes] = []
        self._size = 0
        self._ended = False
        self._changed = trio.Event()

    def _signal(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def put(self, chunk: bytes) -> None:
        self._held.append(chunk)
        self._size += len(chunk)
        self._signal()
        while self._size >= HELD:
            await self._changed.wait()

    def end(self) -> None:
        self._ended = True
        self._signal()

    async def take(self) -> bytes | None:
        """All bytes held (waiting for some), or None at the end of the body."""
        while not self._held:
            if self._ended:
                return None
            await self._changed.wait()
        data = b"".join(self._held)
        self._held.clear()
        self._size = 0
        self._signal()
        return data


class _Watch:
    """A deadline that moves on with every byte either way, and stops while we produce the body.

    When it passes, `probe` asks the server something else (on another connection): a server
    that answers is busy (kubo pinning a large tree says nothing for a while), not stuck."""

    def __init__(self, seconds: float, probe: Callable[[], Awaitable[object]] | None) -> None:
        self.seconds = seconds
        self._probe = probe
        self._since = trio.current_time()  # the last byte either way
        self._paused = False
        self._scope = trio.CancelScope(deadline=self._since + seconds)

    def touch(self) -> None:
        if not self._paused:
            self._since = trio.current_time()
            self._scope.deadline = self._since + self.seconds

    def pause(self) -> None:
        self._paused = True
        self._scope.deadline = math.inf

    def resume(self) -> None:
        self._paused = False
        self.touch()

    async def run(self) -> None:
        while True:
            with self._scope:
                await trio.sleep_forever()
            silent = trio.current_time() - self._since
            if silent >= SILENCE_CAP * self.seconds:
                raise Stalled(silent, answering=True)
            if not await self._answers():
                raise Stalled(trio.current_time() - self._since, answering=False)
            self._scope = trio.CancelScope(deadline=trio.current_time() + self.seconds)
            if self._paused:
                self._scope.deadline = math.inf

    async def _answers(self) -> bool:
        if self._probe is None:
            return False
        with trio.move_on_after(self.seconds):
            try:
                await self._probe()
            except Exception:
                return False
            return True
        return False


async def post(
    url: str,
    headers: list[tuple[str, str]],
    body: AsyncIterable[bytes],
    on_data: Callable[[bytes], None],
    *,
    stall: float,
    connect_timeout: float,
    probe: Callable[[], Awaitable[object]] | None = None,
    linger: float = 0.0,
) -> Answer:
    """POST `body` (chunked) to `url`; hand each piece of a 200 answer to `on_data` as it comes.

    Stalled when the server neither takes nor sends a byte for `stall` seconds while we wait on
    it and then does not answer `probe` within `stall` seconds either (see _Watch)."""
    parts = urlsplit(url)
    stream = await connect(parts.scheme, parts.hostname or "", parts.port, connect_timeout)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = [("Host", parts.netloc), ("Transfer-Encoding", "chunked"), *headers]
    request = h11.Request(method="POST", target=target, headers=head)
    conn = h11.Connection(h11.CLIENT)
    watch = _Watch(stall, probe)
    answer = Answer()
    errors: list[Exception] = []
    try:
        async with trio.open_nursery() as nursery:

            async def guarded(fn: Callable[[], Awaitable[object]]) -> None:
                try:
                    await fn()
                except Exception as exc:
                    errors.append(exc)
                nursery.cancel_scope.cancel()  # one side done or failed: the exchange is over

            pipe = _Pipe()

            async def produce() -> None:
                async for chunk in body:
                    if chunk:
                        await pipe.put(chunk)
                pipe.end()
                await trio.sleep_forever()  # the body is handed on; the answer ends the exchange

            async def send() -> None:
                await _send(stream, conn, request, pipe, watch, linger)
                await trio.sleep_forever()

            nursery.start_soon(guarded, produce)
            nursery.start_soon(guarded, send)
            nursery.start_soon(guarded, watch.run)
            nursery.start_soon(guarded, lambda: _receive(stream, conn, on_data, watch, answer))
    finally:
        await trio.aclose_forcefully(stream)
    if errors:
        raise errors[0]
    return answer


async def connect(scheme: str, host: str, port: int | None, timeout: float) -> trio.abc.Stream:
    try:
        with trio.fail_after(timeout):
            tcp = await trio.open_tcp_stream(host, port or (443 if scheme == "https" else 80))
            if scheme != "https":
                return tcp
            tls = trio.SSLStream(tcp, ssl.create_default_context(), server_hostname=host)
            await tls.do_handshake()
            return tls
    except (OSError, trio.TooSlowError, trio.BrokenResourceError) as exc:
        raise Unreachable(f"{type(exc).__name__}: {exc}") from exc


async def _send(
    stream: trio.abc.Stream,
    conn: h11.Connection,
    request: h11.Request,
    pipe: _Pipe,
    watch: _Watch,
    linger: float = 0.0,
) -> None:
    """Send the head, then the body as it comes (all that is held, in one write), then its end.
    `linger`: how long a small write waits for more (a body of many small parts that trickle in,
    as a shard's outputs do, then costs one write per few parts instead of one each)."""
    try:
        await stream.send_all(conn.send(request) or b"")
        ended = False
        while not ended:
            watch.pause()  # waiting for our own body is not kubo's delay
            data = await pipe.take()
            ended = data is None
            with trio.move_on_after(linger):
                while linger and data is not None and len(data) < GATHER:
                    more = await pipe.take()
                    if more is None:
                        ended = True
                        break
                    data += more
            watch.resume()
            if data:
                await stream.send_all(conn.send(h11.Data(data=data)) or b"")
                watch.touch()
        await stream.send_all(conn.send(h11.EndOfMessage()) or b"")
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, h11.ProtocolError):
        watch.resume()  # the server hung up on us: its answer (an error, most likely) says why


async def _receive(
    stream: trio.abc.Stream,
    conn: h11.Connection,
    on_data: Callable[[bytes], None],
    watch: _Watch,
    answer: Answer,
) -> None:
    """Read the answer to its end: a 200's body goes to `on_data`, another status's is kept."""
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(RECEIVE)
                watch.touch()
                conn.receive_data(bytes(data))  # b"": the server closed; h11 says if that was early
            elif isinstance(event, h11.Response):
                answer.status = event.status_code
            elif isinstance(event, h11.Data):
                if answer.status == 200:
                    on_data(bytes(event.data))
                else:
                    answer.error_body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                answer.trailers = {k.decode(): v.decode() for k, v in event.headers}
                return
            elif isinstance(event, h11.ConnectionClosed):
                raise Lost("the server closed the connection before its answer ended")
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, h11.ProtocolError) as exc:
        raise Lost(f"{type(exc).__name__}: {exc}") from exc
