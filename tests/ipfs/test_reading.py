"""codsh.ipfs.reading: file bytes from real kubo in large pieces, on connections kept open, and a
kept connection the server closed since is replaced without the caller seeing it."""

from __future__ import annotations

import os
from functools import partial
from urllib.parse import urlsplit

import trio

from codsh.ipfs.client import KuboClient
from codsh.ipfs.multipart import AddEntry
from codsh.ipfs.reading import Reader
from codsh.kubo_daemon import KuboProcess
from tests.conftest import run
from tests.executor.test_shard import _bytes


class Counting(Reader):
    """A Reader that counts the connections it opens."""

    opened = 0

    async def _connect(self) -> trio.abc.Stream:
        self.opened += 1
        return await super()._connect()


def test_a_large_file_comes_in_pieces_far_larger_than_kubos_chunks(kubo: KuboProcess) -> None:
    data = os.urandom(16 << 20)

    async def go() -> tuple[bytes, int]:
        async with KuboClient(kubo.api_url) as ipfs:
            (added,) = await ipfs.add([AddEntry("big", _bytes(data))])
            got = []
            async for piece in ipfs.cat(added.cid):
                got.append(piece)
                await trio.sleep(0.005)  # a consumer that does something with each piece
            return b"".join(got), len(got)

    got, pieces = run(go)
    assert got == data
    # kubo writes ~4 KiB chunks: 4,096 of them; a piece is what the socket holds meanwhile
    assert pieces < (16 << 20) // (64 << 10)


def test_requests_one_after_another_share_one_connection(kubo: KuboProcess) -> None:
    async def go() -> tuple[list[bytes], int]:
        async with KuboClient(kubo.api_url) as ipfs:
            added = await ipfs.add([AddEntry(f"f{i}", _bytes(b"%d\n" % i)) for i in range(50)])
            url = urlsplit(kubo.api_url)
            reader = Counting("http", url.hostname or "", url.port, 5.0)
            ipfs._reader = reader
            got = [b"".join([c async for c in ipfs.cat(a.cid)]) for a in added]
            await reader.aclose()
            return got, reader.opened

    got, opened = run(go)
    assert got == [b"%d\n" % i for i in range(50)]
    assert opened == 1


def test_a_kept_connection_the_server_closed_is_replaced() -> None:
    """A server that answers one request per connection, then closes it (as a server may close
    an idle connection): the second request finds its kept connection dead and opens another."""

    async def serve(stream: trio.SocketStream) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += await stream.receive_some(4096)
        body = b"hello"
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + body)
        await stream.aclose()

    async def go() -> tuple[list[bytes], int]:
        async with trio.open_nursery() as nursery:
            (listener,) = await nursery.start(partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
            port = listener.socket.getsockname()[1]
            reader = Counting("http", "127.0.0.1", port, 5.0)
            got = []
            for _ in range(3):
                async with reader.post("/") as body:
                    got.append(b"".join([p async for p in body.pieces()]))
                await trio.sleep(0.05)  # the server has closed the connection by now
            await reader.aclose()
            nursery.cancel_scope.cancel()
        return got, reader.opened

    got, opened = run(go)
    assert got == [b"hello"] * 3
    assert opened == 3
