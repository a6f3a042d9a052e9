"""Run one shard: every file through the user's command in one container, outputs added to kubo.

Per file, three streams run at once: kubo `cat` -> the file's input FIFO; its output FIFO -> kubo
`add`; its stderr FIFO -> memory (capped). The container's status line ends the file. Latency is
hidden twice: the next file's input is fetched while the current one runs, and all outputs of a
shard go into one streamed `add` request (one part per file) instead of one request each.

A file that outlives its timeout, or a container that dies, costs that file only: the container is
replaced and the shard goes on from the next file. Memory stays bounded whatever the file sizes.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import docker
import trio

from codsh import config
from codsh.core.exits import judge
from codsh.core.model import (
    SIGKILL_STATUS,
    FileResult,
    InputFile,
    Outcome,
    Shard,
    exit_error,
    memory_error,
    output_error,
    timeout_error,
)
from codsh.core.spec import JobSpec
from codsh.errors import CodshError, InfrastructureError
from codsh.executor import cgroup
from codsh.executor.container import ExitInfo, ShardContainer
from codsh.executor.feed import Collect, Feeder, FetchStalled, InputItem
from codsh.executor.fifo import PipeReader, Status, StatusLines, make_fifo
from codsh.executor.outputs import add_outputs, short_read, store_stderr
from codsh.ipfs.client import AddResult, KuboClient
from codsh.ipfs.multipart import AddEntry

DRAIN_GRACE = 5.0  # seconds a finished file may take to flush its output into kubo
PREFETCH_CHUNKS = 4  # chunks of the next file's input held while the current file runs


FETCH_HINT = "the shard goes to another node; if none can fetch it, is the file's CID provided?"

Progress = Callable[[FileResult], None]


class ShardRunner:
    """Runs shards of one job against one kubo and one Docker engine."""

    def __init__(
        self,
        spec: JobSpec,
        ipfs: KuboClient,
        docker_client: docker.DockerClient,
        scratch_root: Path | None = None,
        labels: Mapping[str, str] | None = None,
        mounts: Mapping[str, str] | None = None,
        check_locality: bool = True,
        server: str = "",
    ) -> None:
        self.spec = spec
        self.server = server  # a fork server serving the files (Python functions), or none
        # whether to ask kubo, per file, if it stored the input before the fetch (metering's
        # read-here vs fetched bytes; ~1 ms a file): a cluster node does, one machine need not
        self.check_locality = check_locality
        self.ipfs = ipfs
        self.docker = docker_client
        self.scratch_root = scratch_root or config.scratch_root()
        self.labels = labels  # put on every container, e.g. which node started it
        self.mounts = mounts  # host folder -> where containers see it, read-only
        self._cgroups: bool | None = None  # whether shard cgroups work here (asked once)

    async def run(self, shard: Shard, progress: Progress = lambda _: None) -> list[FileResult]:
        if self._cgroups is None:
            info = await trio.to_thread.run_sync(self.docker.info)
            self._cgroups = cgroup.usable(info, os.environ.get("DOCKER_HOST"))
        scratch = Path(tempfile.mkdtemp(prefix="codsh-shard-", dir=self.scratch_root))
        group = cgroup.ShardCgroup() if self._cgroups else None
        try:
            scratch.chmod(0o700)  # the node's user only: the runner opens the FIFOs as root
            return await _ShardRun(self, shard, scratch, progress, group).run()
        except* InfrastructureError as errors:
            raise _first_leaf(errors) from None  # one clear error for the shard, not a tree
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            if group is not None:
                group.remove()


class _ShardRun:
    def __init__(
        self,
        runner: ShardRunner,
        shard: Shard,
        scratch: Path,
        progress: Progress,
        group: cgroup.ShardCgroup | None,
    ):
        self.runner = runner
        self.group = group
        self.meter = cgroup.ShardMeter(group)
        self._held: dict[str, bool] = {}  # path -> its node's kubo had it stored
        self._received: dict[str, int] = {}  # path -> input bytes kubo gave us
        self.spec = runner.spec
        self.ipfs = runner.ipfs
        self.files = shard.files
        self.scratch = scratch
        self.progress = progress
        self.results: list[FileResult] = []
        self.exit: ExitInfo | None = None
        self._file_scope: trio.CancelScope | None = None
        self._inputs: dict[int, trio.MemoryReceiveChannel[InputItem]] = {}
        self._outputs: dict[str, AddResult] = {}
        self._by_index: dict[int, FileResult] = {}
        self._finished: set[int] = set()  # ran to the end (or failed for good)
        self._added: set[int] = set()  # its output part's add request completed
        self._reported: set[int] = set()
        self._nursery: trio.Nursery | None = None
        self.stalled: str | None = None  # why this node gives the rest of the shard back

    async def run(self) -> list[FileResult]:
        make_fifo(self.scratch / "ctl")
        for index in range(len(self.files)):
            for suffix in ("in", "out", "err"):
                make_fifo(self.scratch / f"{index}.{suffix}")
        status = StatusLines(self.scratch / "ctl")
        parts_in, parts_out = trio.open_memory_channel[AddEntry](0)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(add_outputs, self.ipfs, parts_out, self._added_outputs)
                async with parts_in:
                    await self._run_containers(status, parts_in)
                nursery.cancel_scope.deadline = trio.current_time() + 60  # only the add is left
        finally:
            await status.aclose()
        await self._finish_results()
        if self.stalled is not None:  # the files finished are reported; the rest run elsewhere
            raise InfrastructureError(self.stalled, FETCH_HINT)
        return self.results

    async def _run_containers(
        self, status: StatusLines, parts: trio.MemorySendChannel[AddEntry]
    ) -> None:
        silent_deaths = 0
        while len(self.results) < len(self.files) and self.stalled is None:
            start = len(self.results)
            await self._run_container(status, parts, start)
            ran = self.results[start:]
            died_silently = self.exit is not None and all(r.exit_code is None for r in ran)
            timed_out = any(r.outcome is Outcome.TIMED_OUT for r in ran)
            silent_deaths = silent_deaths + 1 if died_silently and not timed_out else 0
            if silent_deaths >= 2 and self.exit is not None:
                raise InfrastructureError(
                    f"the job container cannot run the command: {self.exit.describe()}",
                    "check that the image has /bin/sh (see --image)",
                )

    def _added_outputs(self, names: list[str], added: dict[str, AddResult]) -> None:
        self._outputs.update(added)
        for name in names:
            self._added.add(int(name))
            self._report_when_complete(int(name))

    def _report_when_complete(self, index: int) -> None:
        """Report file `index` once it has both finished running and had its output stored."""
        result = self._by_index.get(index)
        if result is None or index not in self._added or index in self._reported:
            return
        if index not in self._finished:
            return
        added = self._outputs.get(str(index))
        if added is not None:
            result.output_cid, result.output_tsize = added.cid, added.size
        self._reported.add(index)
        self.progress(result)

    def _prefetch(self, index: int) -> None:
        """Start reading file `index` from kubo now, holding a few chunks until its turn."""
        if index >= len(self.files) or index in self._inputs or self._nursery is None:
            return
        send, receive = trio.open_memory_channel[InputItem](PREFETCH_CHUNKS)
        self._inputs[index] = receive
        self._nursery.start_soon(self._fetch, self.files[index], send)

    async def _fetch(self, file: InputFile, send: trio.MemorySendChannel[InputItem]) -> None:
        """Stream `file` from kubo; kubo going `find_timeout` seconds without a byte of it (it
        keeps looking for a provider for ever) is a stall: this node cannot get the file."""
        wait = self.spec.target.find_timeout
        async with send:
            try:
                received = 0
                here = not self.runner.check_locality or await self.ipfs.has_block(file.cid)
                self._held[file.path] = here
                with trio.CancelScope(deadline=trio.current_time() + wait) as stall:
                    async for chunk in self.ipfs.cat(file.cid):
                        received += len(chunk)
                        self._received[file.path] = received
                        stall.deadline = math.inf  # handing it on may wait for the command
                        await send.send(chunk)
                        stall.deadline = trio.current_time() + wait
                if stall.cancelled_caught:
                    raise FetchStalled(
                        f"this node got no byte of {file.path} ({file.cid}) in {wait:g} s "
                        f"({received} of {file.size} bytes had arrived)"
                    )
                if short := short_read(file, received):
                    raise CodshError(short)
            except CodshError as exc:
                with contextlib.suppress(trio.BrokenResourceError):
                    await send.send(exc)
            except trio.BrokenResourceError:
                pass  # nobody wants the rest (the command stopped reading, or the file was skipped)

    async def _run_container(
        self, status: StatusLines, parts: trio.MemorySendChannel[AddEntry], start: int
    ) -> None:
        container = ShardContainer(
            self.runner.docker,
            self.spec.image_digest,
            self.spec.limits,
            self.scratch,
            self.runner.labels,
            self.runner.mounts,
            self.group.parent if self.group else None,
        )
        self.exit = None
        try:
            await container.start(self.spec.command, start, len(self.files), self.runner.server)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch, container)
                for index in range(start, len(self.files)):
                    result, usable = await self._run_file(index, status, parts)
                    result.container_starts = int(index == start)
                    if self.stalled is not None:
                        break  # not a result: the file goes back with the rest of the shard
                    self.results.append(result)
                    self._finished.add(index)
                    self._report_when_complete(index)
                    if not usable:
                        break
                nursery.cancel_scope.cancel()
        finally:
            await container.remove()

    async def _watch(self, container: ShardContainer) -> None:
        self.exit = await container.wait()
        if self._file_scope is not None:
            self._file_scope.cancel()

    async def _run_file(  # one file's streams, timer and outcome, kept in one place on purpose:
        self, index: int, status: StatusLines, parts: trio.MemorySendChannel[AddEntry]
    ) -> tuple[FileResult, bool]:  # the cancel scopes and what they mean read together
        """Run file `index`; also say whether the container can go on to the next file."""
        file = self.files[index]
        result = FileResult(file.path, file.cid, file.size)
        self._by_index[index] = result
        limits = self.spec.limits
        self._prefetch(index)
        self._prefetch(index + 1)
        stdout = PipeReader(self.scratch / f"{index}.out", limits.output, stop_at_limit=True)
        stderr = PipeReader(self.scratch / f"{index}.err", limits.stderr, stop_at_limit=False)
        feeder = Feeder(self._inputs.pop(index), self.scratch / f"{index}.in")
        stderr_bytes = b""
        left_behind = ""
        part_sent = False
        said: Status | None = None
        self.meter.file_started()
        started = time.monotonic()
        with trio.CancelScope() as file_scope:
            self._file_scope = file_scope
            if self.exit is not None:  # the container died before this file started
                file_scope.cancel()
            with trio.move_on_after(limits.timeout) as timer:
                await parts.send(AddEntry(str(index), stdout.chunks()))
                part_sent = True
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(feeder.run)
                    stderr_task = Collect(stderr)
                    nursery.start_soon(stderr_task.run)
                    said = await status.wait_for(index)
                    if said.unusable:
                        raise InfrastructureError(
                            f"the job container cannot run the command: {said.unusable}",
                            "check that the image has /bin/sh (see --image)",
                        )
                    result.exit_code, left_behind = said.code, said.dirty
                    self._file_scope = None  # done: a container exit from here on is expected
                    feeder.stop()
                    stderr.finish()
                    stdout.finish()
                    with trio.move_on_after(DRAIN_GRACE):
                        await stdout.drained.wait()
                        await stderr_task.done.wait()
                    nursery.cancel_scope.cancel()
                    stderr_bytes = stderr_task.data
        self._file_scope = None
        stdout.finish()  # on timeout or death: end this file's output part with what it has
        if not part_sent:
            await stdout.aclose()
        await feeder.close()
        await stderr.aclose()
        result.seconds = round(time.monotonic() - started, 4)
        if result.exit_code is None and file_scope.cancelled_caught:
            said_late = status.poll(index)  # it may have finished just before the exit
            if said_late is not None:
                said = said_late
                result.exit_code, left_behind = said_late.code, said_late.dirty
        usable = not left_behind  # else the runner stopped: a fresh container for the next file
        if feeder.stalled:
            self.stalled = feeder.stalled
        if result.exit_code is None:
            usable = False
        self._judge(result, timer.cancelled_caught, stderr_bytes)
        if feeder.error:
            result.fail(Outcome.FETCH_FAILED, feeder.error)
        if stdout.overflow:
            result.fail(Outcome.OUTPUT_CUT, output_error(limits.output))
        result.output_size = stdout.kept
        result.stderr = stderr_bytes.decode("utf-8", errors="replace")
        self._meter(result, said, len(stderr_bytes))
        return result, usable

    def _meter(self, result: FileResult, said: Status | None, stderr_size: int) -> None:
        """What the file used: CPU and peak memory (cgroup, else the runner's rusage), input bytes
        read where they were stored or fetched from other nodes, bytes written."""
        cpu, rss = (said.cpu_seconds, said.max_rss) if said else (0.0, 0)
        result.cpu_seconds, result.peak_memory = self.meter.file_ended(cpu, rss)
        received = self._received.get(result.path, 0)
        if self._held.get(result.path, False):
            result.bytes_read = received
        else:
            result.bytes_fetched = received
        result.bytes_written = result.output_size + stderr_size

    def _judge(self, result: FileResult, timed_out: bool, stderr: bytes) -> None:
        """The outcome of a file from how its run ended: its status, or why it has none."""
        limits = self.spec.limits
        if result.exit_code is None:
            if timed_out:
                result.fail(
                    Outcome.TIMED_OUT, timeout_error(limits.timeout, "the container was killed")
                )
            else:
                exit_info = self.exit or ExitInfo(-1, False, "")
                result.fail(Outcome.CONTAINER_LOST, f"no exit status: {exit_info.describe()}")
        elif result.exit_code == SIGKILL_STATUS:
            result.fail(Outcome.OUT_OF_MEMORY, memory_error(limits.memory))
        else:
            judged = judge(self.spec.command, self.spec.ok_exit, result.exit_code, stderr)
            if judged is Outcome.EXITED:
                result.fail(Outcome.EXITED, exit_error(result.exit_code))
            else:
                result.outcome = judged  # OK, or NO_MATCH: a grep that selected nothing

    async def _finish_results(self) -> None:
        """Report files no add request covered (no output), and store non-empty stderr."""
        for index, result in enumerate(self.results):
            if str(index) not in self._outputs:
                result.fail(Outcome.INFRASTRUCTURE, "no output was recorded")
            if index not in self._reported:
                self._added.add(index)
                self._report_when_complete(index)
        await store_stderr(self.ipfs, self.results)


def _first_leaf(group: BaseExceptionGroup[InfrastructureError]) -> InfrastructureError:
    first: BaseException = group
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    assert isinstance(first, InfrastructureError)
    return first
