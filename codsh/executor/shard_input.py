"""A shard's inputs from kubo, in order, as one `cat` request per run of files, split by size.

A request per file cost ~1.4 ms of the node's time (half of its per-file cost); kubo's `cat` takes
many paths and sends their bytes one after the other, ~0.2 ms a file. The listing gives each file's
size, so the stream is cut back into files, and kubo's `X-Content-Length` must equal the sizes'
sum before a byte is used (a wrong size would shift every file after it). The files are read
ahead into one queue bounded in bytes while the current file runs (executor/pieces.py): memory
stays bounded whatever the file sizes.

What a request per file got right is kept: a run of files is asked for together only when this
node holds them (asked of kubo for the whole run in one pipelined round: ipfs/stored.py; kubo
resolves every path of a request before sending a byte, so one missing file would hold back all
of them), and a request that fails or stalls before the file it is on has a byte is asked again
file by file from there, so each error and each stall is the file's own.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence

import trio

from codsh.core.model import InputFile
from codsh.errors import CodshError
from codsh.executor.outputs import short_read
from codsh.executor.pieces import END, Pieces
from codsh.ipfs.client import KuboClient
from codsh.ipfs.stored import KuboAnswerError, stored


class FetchStalled(CodshError):
    """kubo found no byte of an input in time: this node cannot reach the file (not its fault)."""


InputItem = bytes | CodshError  # a piece of a file, or why the rest of it will not come

RUN_FILES = 64  # files per `cat` request at most

Send = Callable[[int, InputItem | None], Awaitable[None]]  # file index, a piece, its error, END


class ShardInput:
    """Produces every file's chunks in order (`run`); file i's feeder reads them (`chunks(i)`).

    Files are consumed in order, one at a time: what file i's command did not read is dropped
    when file i+1 (or a later one) starts reading.
    """

    def __init__(
        self, ipfs: KuboClient, files: Sequence[InputFile], find_timeout: float, check_held: bool
    ) -> None:
        self._ipfs = ipfs
        self._files = files
        self._wait = find_timeout
        self._check_held = check_held
        self._pieces = Pieces[CodshError]()  # read ahead while the command runs (bounded)
        self._reading = -1  # the last file whose chunks were asked for
        self._nursery: trio.Nursery | None = None  # where files read again are read
        self.held: dict[str, bool] = {}  # path -> this node's kubo had it stored (metering)
        self.received: dict[str, int] = {}  # path -> bytes kubo gave

    async def run(self) -> None:
        """Read every file, until `close`."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            with contextlib.suppress(trio.BrokenResourceError):
                start = 0
                while start < len(self._files):
                    run = await self._held_run(start)
                    if len(run) > 1:
                        start = await self._read_together(start, run)
                    else:
                        start = await self._read_alone(start, self._pieces.send)
            self._pieces.finish()
            await trio.sleep_forever()  # a file may be asked for again until `close`

    def size(self, index: int) -> int:
        return self._files[index].size

    def close(self) -> None:
        """The shard is over: the reader stops at its next chunk."""
        self._pieces.close()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def chunks(self, index: int) -> AsyncGenerator[InputItem, None]:
        """File `index`'s chunks, then its error if reading it failed. A file asked for again
        (the container that took its chunks died) is read again, alone."""
        if index <= self._reading:
            async for again in self._again(index):
                yield again
            return
        self._reading = index
        async with contextlib.aclosing(self._pieces.of(index)) as pieces:
            async for piece in pieces:
                yield piece

    async def _again(self, index: int) -> AsyncGenerator[InputItem, None]:
        again = Pieces[CodshError]()
        assert self._nursery is not None, "run() reads the files"
        self._nursery.start_soon(self._read_again, index, again)
        try:
            async with contextlib.aclosing(again.of(index)) as pieces:
                async for piece in pieces:
                    yield piece
        finally:
            again.close()

    async def _read_again(self, index: int, again: Pieces[CodshError]) -> None:
        with contextlib.suppress(trio.BrokenResourceError):
            await self._read_alone(index, again.send)

    async def _held_run(self, start: int) -> Sequence[InputFile]:
        """The files from `start` on that this node holds, up to RUN_FILES (all when not asked)."""
        candidates = self._files[start : start + RUN_FILES]
        unknown = [f.cid for f in candidates if f.path not in self.held]
        found = set(unknown)
        if self._check_held and unknown:
            try:
                found = await stored(self._ipfs.api_url, unknown)
            except (KuboAnswerError, OSError, trio.BrokenResourceError):
                found = set()  # read alone: each file then meets the trouble itself
        self.held.update((f.path, f.cid in found) for f in candidates if f.path not in self.held)
        run = 0
        while run < len(candidates) and self.held[candidates[run].path]:
            run += 1
        return candidates[: max(run, 1)]

    async def _read_together(self, start: int, run: Sequence[InputFile]) -> int:
        """Read `run` in one request; the index to go on from. A failure inside a file is that
        file's; one before the file it is on has a byte is no file's: the rest is read alone."""
        cut = _Cut(self, start, start + len(run))
        cids, total = [f.cid for f in run], sum(f.size for f in run)
        with trio.CancelScope(deadline=trio.current_time() + self._wait) as stall:
            try:
                async with contextlib.aclosing(self._ipfs.cat_many(cids, total)) as stream:
                    async for chunk in stream:
                        stall.deadline = math.inf  # handing it on may wait for the command
                        await cut.send(chunk)
                        stall.deadline = trio.current_time() + self._wait
                await cut.send(b"")  # empty files after the last byte
            except CodshError:
                pass  # said below, by the file it is on
        index, got = cut.index, cut.got
        if index == cut.end:
            return index
        if not got:
            for alone in range(index, cut.end):
                await self._read_alone(alone, self._pieces.send)
            return cut.end
        file = self._files[index]
        if stall.cancelled_caught:
            await self._pieces.send(index, FetchStalled(self._stalled(file, got)))
        else:
            await self._pieces.send(index, CodshError(short_read(file, got) or ""))
        return index + 1

    async def _read_alone(self, index: int, send: Send) -> int:
        """Read file `index` in its own request: its errors and stalls are its own."""
        file = self._files[index]
        got = 0
        try:
            with trio.CancelScope(deadline=trio.current_time() + self._wait) as stall:
                async for chunk in self._ipfs.cat(file.cid):
                    got += len(chunk)
                    self.received[file.path] = got
                    stall.deadline = math.inf
                    await send(index, chunk)
                    stall.deadline = trio.current_time() + self._wait
            if stall.cancelled_caught:
                raise FetchStalled(self._stalled(file, got))
            if short := short_read(file, got):
                raise CodshError(short)
            await send(index, END)
        except CodshError as exc:
            await send(index, exc)
        return index + 1

    def _stalled(self, file: InputFile, got: int) -> str:
        return (
            f"this node got no byte of {file.path} ({file.cid}) in {self._wait:g} s "
            f"({got} of {file.size} bytes had arrived)"
        )


class _Cut:
    """Cuts one request's stream back into the files [index, end) by their sizes."""

    def __init__(self, source: ShardInput, index: int, end: int) -> None:
        self._source = source
        self.index = index
        self.end = end
        self.got = 0  # bytes of file `index` sent on

    async def send(self, chunk: bytes) -> None:
        files, send = self._source._files, self._source._pieces.send
        while chunk or (self.index < self.end and self.got == files[self.index].size):
            if self.index == self.end:
                raise CodshError("kubo sent more bytes than the files have")
            file = files[self.index]
            piece, chunk = chunk[: file.size - self.got], chunk[file.size - self.got :]
            if piece:
                self.got += len(piece)
                self._source.received[file.path] = self.got
                await send(self.index, piece)
            if self.got == file.size:
                await send(self.index, END)
                self.index, self.got = self.index + 1, 0
