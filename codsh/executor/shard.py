"""Run one shard: every file through the user's command in one container, outputs added to kubo.

A shard is three streams, not three per file: its inputs come from kubo as one `cat` for many
files (shard_input.py) and go into the container as one framed stream; the container's one
framed stream out carries every file's output, stderr and status (streams.py, runner/stream.go);
the outputs go into streamed `add` requests, one part per file. A file's status ends it. Latency
is hidden twice: the next files' inputs are read while the current one runs, and no file waits
for a request of its own.

A file that outlives its timeout, or a container that dies, costs that file only: the container is
replaced and the shard goes on from the next file. Memory stays bounded whatever the file sizes.
"""

from __future__ import annotations

import os
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
    Outcome,
    Shard,
    exit_error,
    memory_error,
    output_error,
    timeout_error,
)
from codsh.core.spec import JobSpec
from codsh.errors import InfrastructureError
from codsh.executor import cgroup
from codsh.executor.container import JOB_LABEL, ExitInfo, ShardContainer
from codsh.executor.outputs import add_outputs, store_stderr
from codsh.executor.shard_input import ShardInput
from codsh.executor.streams import ContainerStreams, Fed, ShardOutputs, Status
from codsh.executor.warm import Ready, Recipe, WarmPool, take_or_start
from codsh.ipfs.client import AddResult, KuboClient
from codsh.ipfs.multipart import AddEntry

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
        pool: WarmPool | None = None,
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
        self.pool = pool  # ready containers a long-lived node keeps (warm.py), or none

    async def run(self, shard: Shard, progress: Progress = lambda _: None) -> list[FileResult]:
        if self._cgroups is None:
            info = await trio.to_thread.run_sync(self.docker.info)
            self._cgroups = cgroup.usable(info, os.environ.get("DOCKER_HOST"))
        try:
            return await _ShardRun(self, shard, progress).run()
        except* InfrastructureError as errors:
            raise _first_leaf(errors) from None  # one clear error for the shard, not a tree

    async def container(self) -> Ready:
        """A started container for this job's shards: a warm one from the pool when it has one
        (it cannot carry the job's label), else one started now."""
        labels = dict(self.labels or {})
        shared = {key: value for key, value in labels.items() if key != JOB_LABEL}
        recipe = Recipe.of(
            self.spec.image_digest,
            self.spec.limits,
            self.scratch_root,
            shared,
            self.mounts,
            bool(self._cgroups),
        )
        return await take_or_start(self.pool, self.docker, recipe, labels)


class _ShardRun:
    def __init__(self, runner: ShardRunner, shard: Shard, progress: Progress):
        self.runner = runner
        self.meter = cgroup.ShardMeter(None)  # each container's, once it has one
        self.spec = runner.spec
        self.ipfs = runner.ipfs
        self.files = shard.files
        self.progress = progress
        self.results: list[FileResult] = []
        self.exit: ExitInfo | None = None
        self._file_scope: trio.CancelScope | None = None
        self.inputs = ShardInput(
            runner.ipfs, shard.files, self.spec.target.find_timeout, runner.check_locality
        )
        self._outputs: dict[str, AddResult] = {}
        self._by_index: dict[int, FileResult] = {}
        self._finished: set[int] = set()  # ran to the end (or failed for good)
        self._added: set[int] = set()  # its output part's add request completed
        self._reported: set[int] = set()
        self.outputs = ShardOutputs(self.spec.limits.output, self.spec.limits.stderr)
        self.stalled: str | None = None  # why this node gives the rest of the shard back

    async def run(self) -> list[FileResult]:
        parts_in, parts_out = trio.open_memory_channel[AddEntry](0)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(add_outputs, self.ipfs, parts_out, self._added_outputs)
                nursery.start_soon(self.inputs.run)
                async with parts_in:
                    await self._run_containers(parts_in)
                self.inputs.close()
                nursery.cancel_scope.deadline = trio.current_time() + 60  # only the add is left
        finally:
            self.outputs.close()
        await self._finish_results()
        if self.stalled is not None:  # the files finished are reported; the rest run elsewhere
            raise InfrastructureError(self.stalled, FETCH_HINT)
        return self.results

    async def _run_containers(self, parts: trio.MemorySendChannel[AddEntry]) -> None:
        silent_deaths = 0
        while len(self.results) < len(self.files) and self.stalled is None:
            start = len(self.results)
            await self._run_container(parts, start)
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

    async def _run_container(self, parts: trio.MemorySendChannel[AddEntry], start: int) -> None:
        ready = await self.runner.container()
        streams, container = ready.streams(), ready.container
        self.meter = cgroup.ShardMeter(ready.group)
        self.exit = None
        ended = False  # ran to its end: else (cancelled, failed) the container goes at once
        try:
            end = len(self.files)
            limits = self.spec.limits
            await streams.send_job(
                self.spec.command, self.runner.server, limits.output, limits.stderr
            )
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch, container)
                nursery.start_soon(streams.feed, self.inputs, start, end)
                nursery.start_soon(streams.read, self.outputs)
                for index in range(start, end):
                    result, usable = await self._run_file(index, streams, parts)
                    result.container_starts = int(index == start)
                    if self.stalled is not None:
                        break  # not a result: the file goes back with the rest of the shard
                    self.results.append(result)
                    self._finished.add(index)
                    self._report_when_complete(index)
                    if not usable:
                        break
                nursery.cancel_scope.cancel()
            ended = True
        finally:
            await streams.aclose()
            pool = self.runner.pool  # a cancelled job's containers are gone before it is over
            if not ended or pool is None or not pool.discard_later(ready):
                await ready.adiscard()

    async def _watch(self, container: ShardContainer) -> None:
        self.exit = await container.wait()
        if self._file_scope is not None:
            self._file_scope.cancel()

    async def _run_file(
        self, index: int, streams: ContainerStreams, parts: trio.MemorySendChannel[AddEntry]
    ) -> tuple[FileResult, bool]:
        """Run file `index`; also say whether the container can go on to the next file."""
        file = self.files[index]
        result = FileResult(file.path, file.cid, file.size)
        self._by_index[index] = result
        limits = self.spec.limits
        part_sent = False
        said: Status | None = None
        self.meter.file_started()
        started = time.monotonic()
        with trio.CancelScope() as file_scope:
            self._file_scope = file_scope
            if self.exit is not None:  # the container died before this file started
                file_scope.cancel()
            with trio.move_on_after(limits.timeout) as timer:
                await parts.send(AddEntry(str(index), self.outputs.chunks(index)))
                part_sent = True
                said = await self.outputs.wait_for(index)
        self._file_scope = None  # done: a container exit from here on is expected
        streams.stop_feeding(index)
        if said is None and file_scope.cancelled_caught:
            said = self.outputs.said(index)  # it may have finished just before the exit
        await self.outputs.end(index, part_sent)  # on timeout or death: what it has
        if said is not None and said.unusable:
            raise InfrastructureError(
                f"the job container cannot run the command: {said.unusable}",
                "check that the image has /bin/sh (see --image)",
            )
        result.seconds = round(time.monotonic() - started, 4)
        left_behind = ""
        if said is not None:
            result.exit_code, left_behind = said.code, said.dirty
        # the runner stopped after what it left behind, or the container is gone
        usable = not left_behind and result.exit_code is not None
        fed = streams.fed.get(index, Fed())
        self.stalled = fed.stalled
        output = self.outputs.of(index)
        stderr_bytes = bytes(output.stderr)
        self._judge(result, timer.cancelled_caught, stderr_bytes)
        if fed.error:
            result.fail(Outcome.FETCH_FAILED, fed.error)
        if output.overflow:
            result.fail(Outcome.OUTPUT_CUT, output_error(limits.output))
        result.output_size = output.kept
        result.stderr = stderr_bytes.decode("utf-8", errors="replace")
        self._meter(result, said, len(stderr_bytes))
        return result, usable

    def _meter(self, result: FileResult, said: Status | None, stderr_size: int) -> None:
        """What the file used: CPU and peak memory (cgroup, else the runner's rusage), input bytes
        read where they were stored or fetched from other nodes, bytes written."""
        cpu, rss = (said.cpu_seconds, said.max_rss) if said else (0.0, 0)
        result.cpu_seconds, result.peak_memory = self.meter.file_ended(cpu, rss)
        received = self.inputs.received.get(result.path, 0)
        if self.inputs.held.get(result.path, False):
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
