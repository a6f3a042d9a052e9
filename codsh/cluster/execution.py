"""The execution on the cluster: ask every node what it holds, place by locality, submit shards.

Dask does the scheduling, the transport and the bookkeeping of tasks; the driver only decides where
each shard runs (core/inventory.py) and when one runs again (core/reschedule.py, carried out by
cluster/tasks.py); jobs/run.py merges the nodes' output CIDs by reference.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import trio
from distributed import Client

from codsh.cluster.messages import InventoryAnswer, Wire
from codsh.cluster.node import NOT_CODSH, inventory
from codsh.cluster.reconnect import RECONNECT_TIMEOUT
from codsh.cluster.reveal import Reveal
from codsh.cluster.tasks import FileNews, ShardTasks
from codsh.cluster.tls import security
from codsh.core.bill import Meter, PriceList
from codsh.core.folders import KeptFolder
from codsh.core.inventory import (
    Verify,
    held_somewhere,
    left_out,
    output_questions,
    replica_plans,
)
from codsh.core.model import FileResult, InputFile
from codsh.core.plan import LocalityReport
from codsh.core.reschedule import Reschedule
from codsh.core.spec import JobSpec
from codsh.core.vote import Ballots
from codsh.errors import CodshError, ServiceUnavailable
from codsh.ipfs.client import KuboClient
from codsh.jobs.execution import OnFile, Ran

CONNECT_TIMEOUT = 20.0
CLOSE_WAIT = 10.0  # seconds closing the client may take when the job ends
log = logging.getLogger(__name__)


def connect(scheduler: str, tls: Path) -> Client:
    """A client that fails fast when nothing listens, and rides out a scheduler restart later."""
    host, _, port = scheduler.split("://")[-1].rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
        return Client(scheduler, security=security(tls), timeout=RECONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ServiceUnavailable(
            f"cannot reach the codsh scheduler at {scheduler} ({exc})",
            "start the devstack (`codsh devstack up --nodes 3`) or check --scheduler and --tls",
        ) from exc


def worker_addresses(scheduler: str, tls: Path, name: str) -> set[str]:
    """The scheduler's addresses of the workers named `name` (a node about to be restarted)."""
    client = connect(scheduler, tls)
    try:
        workers = client.scheduler_info()["workers"]
        return {address for address, worker in workers.items() if worker.get("name") == name}
    finally:
        client.close()


def wait_for_nodes(
    scheduler: str, tls: Path, count: int, wait: float, gone: AbstractSet[str] = frozenset()
) -> None:
    """Block until `count` codsh nodes have joined the scheduler (or say which are missing),
    none of them at an address in `gone` (a node's old worker, stopped but not yet forgotten by
    the scheduler: counted, it let a job start before the node's new worker had joined)."""
    client = connect(scheduler, tls)
    try:
        client.wait_for_workers(count, timeout=wait)
        deadline = time.monotonic() + wait
        while len(set(client.scheduler_info()["workers"]) - gone) < count:
            if time.monotonic() > deadline:
                raise TimeoutError
            time.sleep(0.1)
    except TimeoutError as exc:
        joined = len(client.scheduler_info()["workers"])
        raise ServiceUnavailable(
            f"only {joined} of {count} codsh nodes joined {scheduler} within {wait:g}s",
            "see the nodes' worker.log files (under the devstack folder for a devstack)",
        ) from exc
    finally:
        client.close()


class SharedClient:
    """One client to the scheduler for every cluster job of a long-lived process (the
    orchestrator): a job then pays no connect (~25 ms) and no close (~15 ms). The jobs share its
    one topic of per-file messages (FileNews: Dask keeps one handler a topic; the scheduler keeps
    the last 1,000 messages of a topic, so they do not pile up while it lives). A job that finds
    it not connected (the scheduler gone, or back and not yet reconnected) gets a new one, which
    fails fast when nothing listens, as a job's own would; the old one is left to the jobs still
    riding out the restart on it, and closed with the rest."""

    def __init__(self, scheduler: str, tls: Path) -> None:
        self.scheduler, self.tls = scheduler, tls
        self._client: Client | None = None
        self._news: FileNews | None = None
        self._retired: list[Client] = []
        self._lock = trio.Lock()

    async def get(self) -> tuple[Client, FileNews]:
        async with self._lock:
            if self._client is not None and self._client.status != "running":
                self._retired.append(self._client)
                self._client = None
            if self._client is None:  # (again at the next job when connecting fails)
                self._client = await trio.to_thread.run_sync(connect, self.scheduler, self.tls)
                self._news = FileNews(self._client)
            assert self._news is not None
            return self._client, self._news

    def close(self) -> None:
        """Blocking: run it in a thread."""
        for client in [*self._retired, *([self._client] if self._client else [])]:
            with contextlib.suppress(Exception):  # one that cannot close must not stop the rest
                client.close(timeout=CLOSE_WAIT)


@dataclass
class ClusterExecution:
    """Jobs run on the cluster whose scheduler is at `scheduler` (this process is its client).

    `job` names the job's Dask tasks and labels its containers on every node (org.codsh.job);
    give the job's ID so a node's containers say whose they are (a random key otherwise).
    `shared`: a long-lived process's client, kept after the job (else one is made and closed)."""

    scheduler: str
    tls: Path
    job: str = ""
    suspects: frozenset[str] = frozenset()  # nodes outvoted before: --verify checks all theirs
    shared: SharedClient | None = None

    @asynccontextmanager
    async def open(self, spec: JobSpec, ipfs: KuboClient) -> AsyncIterator[ClusterRun]:
        job = self.job or uuid.uuid4().hex[:12]
        if self.shared is not None:
            client, news = await self.shared.get()
            yield ClusterRun(spec, client, job, self.scheduler, suspects=self.suspects, news=news)
            return
        client = await trio.to_thread.run_sync(connect, self.scheduler, self.tls)
        try:
            yield ClusterRun(spec, client, job, self.scheduler, suspects=self.suspects)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_WAIT):
                await trio.to_thread.run_sync(client.close, abandon_on_cancel=True)


@dataclass
class ClusterRun:
    spec: JobSpec
    client: Client
    job: str
    scheduler: str = ""  # its address, for messages
    outputs_here: bool = False  # outputs stay on the nodes that made them (they pin them)
    suspects: frozenset[str] = frozenset()
    news: FileNews | None = None  # the shared client's topic (else the job's own, per execute)
    answers: dict[str, InventoryAnswer] = field(default_factory=dict)  # the inventory round's

    async def available(
        self, inputs: list[str], outputs: Mapping[str, str], folders: Sequence[KeptFolder] = ()
    ) -> set[str]:
        """One round: who holds which input, and which remembered outputs are still held (each
        asked of the node that made it; a kept folder's outputs are among them)."""
        try:
            names = await trio.to_thread.run_sync(worker_names, self.client)
            asked = output_questions(outputs, names.values())
            wire = await trio.to_thread.run_sync(
                lambda: self.client.run(inventory, inputs, outputs=asked, on_error="return")
            )
        except (OSError, TimeoutError) as exc:  # the scheduler went away during the round
            raise ServiceUnavailable(
                f"lost the codsh scheduler at {self.scheduler} while asking the nodes ({exc})",
                "check that it runs (`codsh devstack status` on a devstack), then submit again",
            ) from exc
        self.answers = {node: answer_of(reply) for node, reply in wire.items()}
        return held_somewhere(self.answers, asked, names)

    async def execute(self, files: list[InputFile], on_file: OnFile) -> Ran:
        """Run `files` once per replica, each replica of a file on another node; with more than
        one, every file's result is the replicas' vote (core/vote.py), reported once voted."""
        target, replicas = self.spec.target, self.spec.replicas
        names = await trio.to_thread.run_sync(worker_names, self.client)
        skipped = left_out(self.answers, names)
        for worker, why in skipped.items():
            log.warning("%s is left out of the job: %s", worker, why)
        verify = None
        if self.spec.verify and replicas > 1:  # the nodes must not guess which files are checked
            verify = Verify(self.spec.verify, self.suspects, random.SystemRandom())
        placements, holders = replica_plans(
            self.answers, files, target.select, target.shard_size, names, replicas, verify
        )
        counts = Counter(f.path for p in placements for t in p.tasks for f in t.shard.files)
        others = frozenset(a for a, answer in self.answers.items() if not answer.codsh)
        lists = {names.get(a, a): PriceList.from_dict(x.prices) for a, x in self.answers.items()}
        meter = Meter(lists, replicas)  # every run priced with its node's published list
        reveal = Reveal(self.client, self.job, names, self.scheduler)
        ballots = Ballots(
            replicas, meter.after_vote(on_file), self.job, counts, on_ready=reveal.poke
        )
        reveal.ballots = ballots
        news = self.news or FileNews(self.client)  # one topic for the replicas' messages
        runs = [
            ShardTasks(
                self.client,
                self.spec,
                self.job,
                holders,
                names,
                meter.chain(on_file if replicas == 1 else ballots.add),
                others,
                self.scheduler,
                news,
            )
            for _ in placements
        ]
        outcomes: list[list[FileResult]] = [[] for _ in runs]
        running = len(runs)

        async def replica(index: int) -> None:
            nonlocal running
            try:
                outcomes[index] = await runs[index].run(placements[index].tasks)
            finally:
                running -= 1
                if not running:
                    reveal.finish()  # open and vote on what is left

        steps = [partial(replica, index) for index in range(len(runs))]
        await side_by_side(steps + ([reveal.run] if replicas > 1 else []))
        results = outcomes[0] if replicas == 1 else ballots.close()
        for result in results if replicas == 1 else ():
            meter.run(result)  # the shard's answer may have replaced the file's first report
        report = replace(combined_locality([r.policy for r in runs]), left_out=skipped)
        shards = [s for r in runs for s in r.shards]
        return Ran(results, report, [s for r in runs for s in r.setup], shards)


async def side_by_side(steps: Sequence[Callable[[], Awaitable[None]]]) -> None:
    """Every step at once; one step is awaited directly, and an error of the steps (the
    scheduler gone, ...) comes out as itself, not in an exception group, so the CLI prints it
    as an error."""
    if len(steps) == 1:
        await steps[0]()
        return
    try:
        async with trio.open_nursery() as nursery:
            for step in steps:
                nursery.start_soon(step)
    except BaseExceptionGroup as group:
        leaf: BaseException = group
        while isinstance(leaf, BaseExceptionGroup):
            leaf = leaf.exceptions[0]
        if isinstance(leaf, CodshError):
            raise leaf from None
        raise


def combined_locality(policies: list[Reschedule]) -> LocalityReport:
    """Where every replica's files ran, as one report."""
    if len(policies) == 1:
        return policies[0].locality()
    runs = [run for policy in policies for run in policy.file_runs()]
    lost = sum(policy.locality().not_run for policy in policies)
    rescheduled = sum(policy.rescheduled for policy in policies)
    return LocalityReport.of_runs(runs, policies[0].names, not_run=lost, rescheduled=rescheduled)


def answer_of(reply: Wire | BaseException) -> InventoryAnswer:
    """A node's answer; a worker that could not even run the question is not a codsh node."""
    if isinstance(reply, BaseException):
        error = f"{NOT_CODSH} ({type(reply).__name__}: {reply})"
        return InventoryAnswer(False, error=error, codsh=False)
    return InventoryAnswer.from_wire(reply)


def worker_names(client: Client) -> dict[str, str]:
    """Dask worker address -> the name it joined with (what reports show)."""
    workers = client.scheduler_info()["workers"]
    return {address: str(info.get("name") or address) for address, info in workers.items()}
