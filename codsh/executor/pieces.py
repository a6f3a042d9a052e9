"""Files' bytes in order, from one producer to the consumer of one file at a time, joined.

kubo sends a file in ~4 KiB pieces and a command writes its output in pieces as small; handed on
one by one, every piece costs a channel hand-off, a frame and a write (a 64 MiB file was 17,000
of each, the shard's bottleneck). Here consecutive pieces of one file join while the consumer is
busy (never waiting for more: a slow stream is handed on as it comes), up to a bound in bytes
that holds back the producer.

Items are (file index, piece): bytes, or something else that ends the file with it (an error),
or `END`. The consumer asks for one file at a time, in order (`of`): what an earlier file left
unread is dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator
from typing import Generic, TypeVar

import trio

T = TypeVar("T")
END = None  # the piece that ends a file
LIMIT = 1 << 20  # bytes held before the producer waits


class Pieces(Generic[T]):
    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._items: deque[list[int | bytes | bytearray | T | None]] = deque()  # [index, piece]
        self._held = 0
        self._readers = trio.lowlevel.ParkingLot()
        self._writers = trio.lowlevel.ParkingLot()
        self._closed = False  # by the consumer: nothing more is wanted
        self._finished = False  # by the producer: nothing more comes

    async def send(self, index: int, piece: bytes | T | None) -> None:
        """Queue `piece` of file `index`; waits while `limit` bytes are held. Raises
        trio.BrokenResourceError once the consumer has closed."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while self._held >= self._limit and not self._closed:
            await self._writers.park()
        if self._closed:
            raise trio.BrokenResourceError("nothing more is wanted")
        last = self._items[-1] if self._items else None
        if isinstance(piece, bytearray):
            piece = bytes(piece)  # ours to join onto, never the caller's
        if isinstance(piece, bytes):
            self._held += len(piece)
            if last is not None and last[0] == index and isinstance(last[1], bytes | bytearray):
                joined = last[1] if isinstance(last[1], bytearray) else bytearray(last[1])
                joined += piece
                last[1] = joined
            else:
                self._items.append([index, piece])
        else:
            self._items.append([index, piece])
        self._readers.unpark_all()
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def take(self) -> tuple[int, bytes | T | None]:
        """The next item (every piece of one file queued together as one bytes)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while not self._items:
            if self._closed:
                raise trio.ClosedResourceError("the pieces were closed")
            if self._finished:
                raise trio.EndOfChannel
            await self._readers.park()
        index, piece = self._items.popleft()
        assert isinstance(index, int)
        if isinstance(piece, bytes | bytearray):
            self._held -= len(piece)
            self._writers.unpark_all()
            return index, bytes(piece)
        return index, piece  # type: ignore[return-value]

    def put_back(self, index: int, piece: bytes | T | None) -> None:
        """An item taken for a later file than asked: it is the next one taken."""
        if isinstance(piece, bytes):
            self._held += len(piece)
        self._items.appendleft([index, piece])

    async def of(self, index: int) -> AsyncGenerator[bytes | T, None]:
        """File `index`'s pieces, ended by END (not yielded) or by an item that is not bytes
        (yielded last); what earlier files left is skipped."""
        while True:
            position, piece = await self.take()
            if position < index:
                continue
            if position > index:
                self.put_back(position, piece)
                return
            if piece is END:
                return
            yield piece
            if not isinstance(piece, bytes):
                return

    def finish(self) -> None:
        """Nothing more comes: a consumer asking past the end gets trio.EndOfChannel."""
        self._finished = True
        self._readers.unpark_all()

    def close(self) -> None:
        """Nothing more is wanted: the producer's next send raises, held bytes are dropped."""
        self._closed = True
        self._items.clear()
        self._held = 0
        self._readers.unpark_all()
        self._writers.unpark_all()
