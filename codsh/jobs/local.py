"""The execution on this node: shards run `slots` at a time in containers (or wasmtime) against
the local kubo and Docker engine. Outputs stay in the local kubo."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import docker
import trio

from codsh.core.folders import KeptFolder
from codsh.core.model import FileResult, InputFile, Outcome, Shard, ShardUse
from codsh.core.plan import make_shards
from codsh.core.reschedule import MAX_TRIES, unfinished
from codsh.core.spec import JobSpec
from codsh.errors import InfrastructureError
from codsh.executor.runners import Runner, shard_runner
from codsh.executor.warm import WarmPool
from codsh.ipfs.client import KuboClient, KuboError, KuboUnavailable
from codsh.ipfs.stored import KuboAnswerError, stored
from codsh.ipfs.wire import LOST_HINT
from codsh.jobs.execution import OnFile, Ran
from codsh.jobs.where import Where

WALKS = 4  # kept folders' outputs walked at once (kubo reads blocks in parallel)


@dataclass
class LocalExecution:
    engine: docker.DockerClient
    labels: Mapping[str, str] = field(default_factory=dict)  # on every container (its job)
    pool: WarmPool | None = None  # started containers a long-lived process keeps (serve)

    @asynccontextmanager
    async def open(self, spec: JobSpec, ipfs: KuboClient) -> AsyncIterator[LocalRun]:
        Where(None).admits(spec)
        yield LocalRun(spec, ipfs, self.engine, self.labels, self.pool)


@dataclass
class LocalRun:
    spec: JobSpec
    ipfs: KuboClient
    engine: docker.DockerClient
    labels: Mapping[str, str]
    pool: WarmPool | None = None
    outputs_here: bool = True

    async def available(
        self, inputs: list[str], outputs: Mapping[str, str], folders: Sequence[KeptFolder] = ()
    ) -> set[str]:
        """Which of `outputs` this kubo has. A kept folder's (among `folders`) are all here when
        an offline walk of its output reaches every block (a 30,000-file rerun: 1.6 s in all,
        against 4.8 s with a question per output); the rest are one offline `block/stat` each,
        pipelined on one connection (ipfs/stored.py: ~3 s for 30,000, against ~19 s for 16
        requests at a time through the client)."""
        whole = await self._whole(folders)
        rest = [cid for cid in outputs if cid not in whole]
        if not rest:
            return whole.intersection(outputs)
        try:
            return whole.intersection(outputs) | await stored(self.ipfs.api_url, rest)
        except (KuboAnswerError, OSError) as exc:
            raise KuboUnavailable(
                f"lost kubo at {self.ipfs.api_url} while checking which remembered outputs it "
                f"still has ({exc}): nothing was run",
                LOST_HINT,
            ) from exc

    async def _whole(self, folders: Sequence[KeptFolder]) -> set[str]:
        """The outputs of the `folders` whose output DAG this kubo has in full (WALKS at once)."""
        found: set[str] = set()
        limiter = trio.CapacityLimiter(WALKS)

        async def walk(folder: KeptFolder) -> None:
            async with limiter:
                try:  # one answer, not a line per block as `refs -r` gives (~3x quicker)
                    await self.ipfs.dag_stat(folder.output_cid, offline=True)
                except KuboError:  # a block under it is gone: its outputs are asked one by one
                    return
                found.update(folder.outputs)

        async with trio.open_nursery() as nursery:
            for folder in folders:
                nursery.start_soon(walk, folder)
        return found

    async def execute(self, files: list[InputFile], on_file: OnFile) -> Ran:
        target = self.spec.target
        slots = target.slots or os.cpu_count() or 1
        shards = make_shards(files, max_files=target.shard_size, min_shards=slots)
        runner, setup = await shard_runner(  # one machine: every input counts as read here
            self.spec,
            self.ipfs,
            self.engine,
            labels=self.labels,
            check_locality=False,
            pool=self.pool,
        )
        usage: list[ShardUse] = []
        results = await run_shards(runner, shards, slots, on_file, usage)
        return Ran(results, setup=[setup] if setup else [], shards=usage)


async def run_shards(
    runner: Runner,
    shards: list[Shard],
    slots: int,
    on_file: OnFile,
    usage: list[ShardUse] | None = None,
) -> list[FileResult]:
    """Run `shards`, `slots` at a time. When a shard's infrastructure fails, the files it finished
    are kept and the rest run again in a new shard (MAX_TRIES in all); then they are lost. What
    each run of a shard used goes to `usage`."""
    limiter = trio.CapacityLimiter(slots)
    ran: list[FileResult] = []

    def report(result: FileResult) -> None:
        ran.append(result)
        on_file(result)

    async def run_shard(shard: Shard) -> None:
        failures: list[InfrastructureError] = []
        finished: dict[str, FileResult] = {}

        def progress(result: FileResult) -> None:
            finished[result.path] = result
            report(result)

        while shard.files:
            async with limiter:
                started, before = trio.current_time(), len(finished)
                try:
                    await runner.run(shard, progress)
                    return
                except InfrastructureError as exc:
                    failures.append(exc)
                finally:
                    if usage is not None:
                        mine = list(finished.values())[before:]
                        seconds = trio.current_time() - started
                        usage.append(ShardUse.of(shard.index, "", mine, seconds))
            shard = Shard(shard.index, unfinished(shard.files, finished))
            if len(failures) >= MAX_TRIES:
                why = lost_reason(failures)
                for file in shard.files:
                    report(FileResult.lost(file, Outcome.INFRASTRUCTURE, why))
                return

    async with trio.open_nursery() as nursery:
        for shard in shards:
            nursery.start_soon(run_shard, shard)
    return ran


def lost_reason(failures: list[InfrastructureError]) -> str:
    """Why files were lost: each distinct failure once, in order, and the last one's hint."""
    messages = list(dict.fromkeys(f.message for f in failures))
    tries = f" ({len(failures)} tries)" if len(messages) == 1 else ""
    hint = f" ({failures[-1].hint})" if failures[-1].hint else ""
    return f"infrastructure failed{tries}: " + "; then: ".join(messages) + hint
