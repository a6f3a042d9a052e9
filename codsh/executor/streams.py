"""The host's ends of a shard container's two framed streams (the protocol: runner/stream.go).

One FIFO carries every file's input in, one carries every file's output, stderr and status out:
per file the host opens nothing and polls nothing, and reads the container's answers in large
chunks. Data never touches the host's disk: a FIFO is only a name for a kernel pipe. The host
opens both read-write, so opening never blocks and no early end is seen; a container gets its
own pair (named by its tag), so what a dead container left in a pipe reaches no other.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path

import trio

from codsh.errors import CodshError, InfrastructureError
from codsh.executor.pieces import END, Pieces
from codsh.executor.shard_input import FetchStalled, InputItem, ShardInput

CHUNK = 256 * 1024
PIPE_SIZE = 1 << 20  # the FIFOs' buffers (/proc/sys/fs/pipe-max-size is 1 MiB by default)


def make_fifo(path: Path) -> None:
    """A FIFO only the node's user (and the container's runner) may open: not the command, not
    another local user (os.mkfifo's mode is masked by the umask, so it is set again)."""
    os.mkfifo(path, 0o600)
    os.chmod(path, 0o600)


def _open_fifo(path: Path) -> int:
    """The host's end of a FIFO, its buffer enlarged (fewer writes, reads and wake-ups per file:
    the default 64 KiB is a fifth of a chunk) where the system allows."""
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    return fd


def make_streams(scratch: Path, tag: str) -> tuple[int, int]:
    """A container's two FIFOs in `scratch`, and the host's ends (in, out) of them: made before
    the container starts (a warm one waits on them), wrapped by ContainerStreams when used."""
    make_fifo(scratch / f"{tag}.in")
    make_fifo(scratch / f"{tag}.out")
    return _open_fifo(scratch / f"{tag}.in"), _open_fifo(scratch / f"{tag}.out")


@dataclass(frozen=True)
class Status:
    """What the runner said of one file: its exit status, what it left behind ("" if none), why
    the image cannot run the command at all ("" if it can), and what its processes used (CPU
    seconds, largest resident set in bytes)."""

    code: int
    dirty: str = ""
    unusable: str = ""
    cpu_seconds: float = 0.0
    max_rss: int = 0


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


@dataclass
class FileOutput:
    """What came back of one file: its stdout as kept (at most `limit` bytes), its stderr."""

    limit: int
    stderr_limit: int
    kept: int = 0
    overflow: bool = False
    stderr: bytearray = field(default_factory=bytearray)
    ended: bool = False


class ShardOutputs:
    """Every file's output, stderr and status, from whichever container ran it.

    Output pieces travel through one bounded queue to the shard's add request; `chunks(i)`
    is file i's part of it, ended by its status (or by `end(i)` when it has none: a timeout, a
    dead container)."""

    def __init__(self, limit: int, stderr_limit: int) -> None:
        self._limit, self._stderr_limit = limit, stderr_limit
        self._pieces = Pieces[bytes]()
        self.files: dict[int, FileOutput] = {}
        self._statuses: dict[int, Status] = {}
        self._said: dict[int, trio.Event] = {}

    def of(self, index: int) -> FileOutput:
        if index not in self.files:
            self.files[index] = FileOutput(self._limit, self._stderr_limit)
        return self.files[index]

    async def output(self, index: int, data: bytes) -> None:
        file = self.of(index)
        if file.ended:
            return  # late (a forwarder the runner gave up on): the file was reported
        room = file.limit - file.kept
        if len(data) > room:
            file.overflow, data = True, data[: max(room, 0)]
        file.kept += len(data)
        if data:
            await self._pieces.send(index, data)

    def stderr(self, index: int, data: bytes) -> None:
        file = self.of(index)
        room = file.stderr_limit - len(file.stderr)
        if room > 0 and not file.ended:
            file.stderr += data[:room]

    async def status(self, index: int, status: Status) -> None:
        self._statuses.setdefault(index, status)
        await self.end(index)
        self._said.setdefault(index, trio.Event()).set()

    async def end(self, index: int, part: bool = True) -> None:
        """File `index`'s output is complete (or will not come: what it has is kept); `part`:
        whether its add part was opened (else nobody reads what it would end)."""
        file = self.of(index)
        if not file.ended:
            file.ended = True
            if part:
                await self._pieces.send(index, END)

    async def wait_for(self, index: int) -> Status:
        await self._said.setdefault(index, trio.Event()).wait()
        return self._statuses[index]

    def said(self, index: int) -> Status | None:
        return self._statuses.get(index)

    def chunks(self, index: int) -> AsyncGenerator[bytes, None]:
        """File `index`'s output pieces: its add request's part."""
        return self._pieces.of(index)

    def close(self) -> None:
        self._pieces.close()


@dataclass
class Fed:
    """How feeding a file went: why its input is incomplete, or why this node cannot get it."""

    error: str | None = None
    stalled: str | None = None


class ContainerStreams:
    """The two FIFOs of one container (`tag`): `feed` writes the inputs of files [start, end)
    in, `read` hands what comes out to the shard's outputs."""

    def __init__(self, scratch: Path, tag: str, fds: tuple[int, int] | None = None) -> None:
        self.tag = tag
        into, out = fds or make_streams(scratch, tag)
        self._in = trio.lowlevel.FdStream(into)
        self._out = trio.lowlevel.FdStream(out)
        self.fed: dict[int, Fed] = {}
        self._stopped: set[int] = set()  # files whose input is no longer wanted (they are done)
        self._waiting: dict[int, trio.CancelScope] = {}

    async def send_job(self, command: str, server: str, output: int, stderr: int) -> None:
        """The runner's first frame: what to run on every file, and the output limits."""
        job = {"command": command, "server": server, "output": output, "stderr": stderr}
        payload = json.dumps(job).encode()
        await self._in.send_all(b"C %d\n" % len(payload) + payload)

    def stop_feeding(self, index: int) -> None:
        """File `index` is done: its feeding stops at its next frame boundary."""
        self._stopped.add(index)
        if index in self._waiting:
            self._waiting[index].cancel()

    async def feed(self, inputs: ShardInput, start: int, end: int) -> None:
        """Every file's input, each announced (F), then its end (E, in the same write as its last
        piece when that is known); a frame is never cut (only the wait between two is), so the
        stream stays whole whatever stops."""
        for index in range(start, end):
            fed = self.fed.setdefault(index, Fed())
            head = b"F %d\n" % index  # written with the file's first frame
            left, ended = inputs.size(index), False
            async with contextlib.aclosing(inputs.chunks(index)) as chunks:
                while index not in self._stopped and left:
                    item: InputItem | None = None
                    with trio.CancelScope() as waiting:
                        self._waiting[index] = waiting
                        item = await anext(chunks, None)
                    del self._waiting[index]
                    if item is None or waiting.cancelled_caught:
                        break
                    if isinstance(item, FetchStalled):
                        fed.stalled = str(item)
                        break
                    if isinstance(item, CodshError):
                        fed.error = f"could not read the input from kubo: {item}"
                        break
                    left -= len(item)
                    frame = head + b"D %d %d\n" % (index, len(item)) + item
                    head = b""
                    if not left:  # its last piece: the end goes with it
                        frame += b"E %d\n" % index
                        ended = True
                    await self._in.send_all(frame)
            if not ended:
                await self._in.send_all(head + b"E %d\n" % index)

    async def read(self, outputs: ShardOutputs) -> None:
        """Frames until cancelled (the container is done)."""
        buffer = b""
        while True:
            data = await self._out.receive_some(CHUNK)
            buffer = await self._frames(buffer + data, outputs)

    async def _frames(self, buffer: bytes, outputs: ShardOutputs) -> bytes:
        """Hand on every whole frame in `buffer`; what is left (a frame's start)."""
        at = 0
        while True:
            newline = buffer.find(b"\n", at)
            if newline < 0:
                return buffer[at:]
            kind, rest = buffer[at : at + 1], buffer[at + 2 : newline]
            if kind == b"S":
                await outputs.status(*parse_status(rest))
                at = newline + 1
                continue
            index, _, size = rest.partition(b" ")
            if kind not in (b"O", b"R") or not index.isdigit() or not size.isdigit():
                raise InfrastructureError(f"the shard runner sent a malformed frame {rest[:80]!r}")
            stop = newline + 1 + int(size)
            if stop > len(buffer):
                return buffer[at:]
            piece = buffer[newline + 1 : stop]
            if kind == b"O":
                await outputs.output(int(index), piece)
            else:
                outputs.stderr(int(index), piece)
            at = stop

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self._in.aclose()
            await self._out.aclose()
