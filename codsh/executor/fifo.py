"""Host ends of the FIFOs that connect kubo to a job container, with trio's non-blocking fd streams.

Data never touches the host's disk: a FIFO is only a name for a kernel pipe. The host opens output
FIFOs read-write (so opening never blocks and no early EOF is seen); the container's per-file status
line, not EOF, says when a command is done, after which what is left in the pipe is drained.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import trio

from codsh.errors import InfrastructureError

CHUNK = 256 * 1024


def make_fifo(path: Path) -> None:
    """A FIFO only the node's user (and the container's runner) may open: not the command, not
    another local user (os.mkfifo's mode is masked by the umask, so it is set again)."""
    os.mkfifo(path, 0o600)
    os.chmod(path, 0o600)


async def open_for_writing(path: Path) -> trio.lowlevel.FdStream:
    """Open the write end once the container has opened the read end (polled: never blocks trio)."""
    delay = 0.0002
    while True:
        try:
            return trio.lowlevel.FdStream(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
        await trio.sleep(delay)
        delay = min(delay * 2, 0.01)


class PipeReader:
    """Reads one output FIFO until `finish()`; keeps at most `limit` bytes.

    Past the limit, `stop_at_limit` closes the pipe (the writer gets EPIPE and usually dies), else the
    rest is read and dropped so the writer never blocks.
    """

    def __init__(self, path: Path, limit: int, stop_at_limit: bool) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        self._stream = trio.lowlevel.FdStream(self._fd)
        self._limit = limit
        self._stop_at_limit = stop_at_limit
        self._finished = False
        self._scope: trio.CancelScope | None = None
        self.total = 0  # bytes read, kept or not
        self.kept = 0
        self.overflow = False
        self.drained = trio.Event()  # set once chunks() has ended, whatever the reason

    def finish(self) -> None:
        """The command is done: stop waiting for more, drain what is buffered, end the stream."""
        self._finished = True
        if self._scope is not None:
            self._scope.cancel()

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            while not self._finished:
                with trio.CancelScope() as scope:
                    self._scope = scope
                    data = await self._stream.receive_some(CHUNK)
                self._scope = None
                if scope.cancelled_caught or not data:
                    break
                kept = self._keep(data)
                if kept:
                    yield kept
                if self.overflow and self._stop_at_limit:
                    return
            while not (self.overflow and self._stop_at_limit):
                try:
                    data = os.read(self._fd, CHUNK)
                except BlockingIOError:
                    break
                if not data:
                    break
                kept = self._keep(data)
                if kept:
                    yield kept
        finally:
            await self.aclose()
            self.drained.set()

    async def read_all(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    def _keep(self, data: bytes) -> bytes:
        self.total += len(data)
        room = self._limit - self.kept
        if len(data) > room:
            self.overflow = True
            data = data[: max(room, 0)]
        self.kept += len(data)
        return data

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self._stream.aclose()


@dataclass(frozen=True)
class Status:
    """What the runner said of one file: its exit status, what it left behind ("" if none), why
    the image cannot run the command at all ("" if it can), and what its processes used (CPU
    seconds, largest resident set in bytes; 0 from a runner older than metering)."""

    code: int
    dirty: str = ""
    unusable: str = ""
    cpu_seconds: float = 0.0
    max_rss: int = 0


# `<index> <exit> [cpu=<µs> rss=<KiB>] <state>`: the usage fields are optional, so a runner built
# before metering still parses.
_STATUS = re.compile(rb"(\d+) (-?\d+)(?: cpu=(\d+) rss=(\d+))?(?: (.*))?")


def parse_status(line: bytes) -> tuple[int, Status]:
    """One status line: the file's index and what the runner said of it."""
    match = _STATUS.fullmatch(line)
    if match is None:
        raise InfrastructureError(f"the shard runner sent a malformed status {line!r}")
    index, code, cpu, rss, raw = match.groups()
    state = (raw or b"").decode(errors="replace")
    unusable = state.removeprefix("unusable:") if state.startswith("unusable:") else ""
    dirty = "" if state in ("clean", "") or unusable else state.removeprefix("dirty:")
    used = int(cpu or 0) / 1e6, int(rss or 0) * 1024
    return int(index), Status(int(code), dirty, unusable, *used)


class StatusLines:
    """The runner's `<index> <exit code> cpu=<µs> rss=<KiB> <state>` lines from /io/ctl (opened
    read-write: never blocks). Only the runner can write them: the FIFO is out of the command's
    reach."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        self._stream = trio.lowlevel.FdStream(self._fd)
        self._buffer = b""
        self._seen: dict[int, Status] = {}

    async def wait_for(self, index: int) -> Status:
        while index not in self._seen:
            self._parse(await self._stream.receive_some(4096))
        return self._seen.pop(index)

    def poll(self, index: int) -> Status | None:
        """The status of `index` if it already arrived (used after the container died)."""
        while True:
            try:
                data = os.read(self._fd, 4096)
            except BlockingIOError:
                break
            if not data:
                break
            self._parse(data)
        return self._seen.pop(index, None)

    def _parse(self, data: bytes) -> None:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            index, status = parse_status(line)
            self._seen.setdefault(index, status)

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self._stream.aclose()
