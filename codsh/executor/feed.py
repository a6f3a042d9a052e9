"""Feeding a file's input FIFO from its prefetched chunks, and collecting a small output (stderr)."""

from __future__ import annotations

from pathlib import Path

import trio

from codsh.errors import CodshError
from codsh.executor.fifo import PipeReader, open_for_writing

InputItem = bytes | CodshError


class FetchStalled(CodshError):
    """kubo found no byte of an input in time: this node cannot reach the file (not its fault)."""


class Feeder:
    """Copies a prefetched input into the file's input FIFO; the command may stop reading early."""

    def __init__(self, source: trio.MemoryReceiveChannel[InputItem], fifo: Path) -> None:
        self._source = source
        self._fifo = fifo
        self._scope = trio.CancelScope()
        self.error: str | None = None
        self.stalled: str | None = None

    def stop(self) -> None:
        self._scope.cancel()

    async def run(self) -> None:
        with self._scope:
            stream = await open_for_writing(self._fifo)
            try:
                async for item in self._source:
                    if isinstance(item, FetchStalled):
                        self.stalled = str(item)
                        break
                    if isinstance(item, CodshError):
                        self.error = f"could not read the input from kubo: {item}"
                        break
                    await stream.send_all(item)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the command stopped reading its input: its choice
            finally:
                with trio.CancelScope(shield=True):
                    await stream.aclose()

    async def close(self) -> None:
        await self._source.aclose()


class Collect:
    def __init__(self, reader: PipeReader) -> None:
        self._reader = reader
        self.data = b""
        self.done = trio.Event()

    async def run(self) -> None:
        try:
            self.data = await self._reader.read_all()
        finally:
            self.done.set()
