"""A codsh node: a Dask worker with a plugin that knows its kubo, its labels and its slots.

Dask schedules and reports; what runs on the node is codsh's own shard executor (the same one as
the one-node path) against the node's own kubo and Docker engine. Each file's result goes to the
driver as soon as its output is stored (a Dask event on the driver's topic), and a shard stops as
soon as its job does: the driver says so (`stop_job`), or Dask released its task (the driver
cancelled it, or went away), which the plugin notices within WATCH_EVERY seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import docker
import trio
from distributed import Worker, WorkerPlugin, get_worker

from codsh.cluster.held import BlockIndex
from codsh.cluster.keep import keep_outputs
from codsh.cluster.messages import FileDone, InventoryAnswer, ShardAnswer, Wire
from codsh.cluster.news import NewsBatch, reporting
from codsh.cluster.sealed import Openings
from codsh.cluster.tls import cluster_id, security
from codsh.config import scratch_root
from codsh.core.bill import PriceList
from codsh.core.inventory import asked_of
from codsh.core.model import FileResult, InputFile, Setup, Shard, ShardUse
from codsh.core.spec import JobSpec
from codsh.engines import engine_problem
from codsh.errors import CodshError, InfrastructureError
from codsh.executor.container import (
    CLUSTER_LABEL,
    JOB_LABEL,
    NODE_LABEL,
    docker_client,
    remove_job,
    remove_leftovers,
)
from codsh.executor.runners import shard_runner
from codsh.executor.warm import WarmPool
from codsh.ipfs.client import KuboClient

PLUGIN = "codsh"
log = logging.getLogger(__name__)
WATCH_EVERY = 0.5  # seconds between looks for shard tasks whose Dask task was released
FRESHEN_EVERY = 20.0  # seconds between looks for new pins, for the block index (when idle)
STOP_WAIT = 4.0  # seconds `stop_job` waits for its shards to remove their own containers
PIN_WAIT = 10.0  # seconds a stopped or broken shard may take to pin what it finished
STOPPED = "stopped: the job was cancelled"
INVENTORY_WAIT = 120.0  # seconds a node may take to answer the inventory round
NOT_CODSH = "not a codsh node: a Dask worker without the codsh plugin (join with `codsh node join`)"


@dataclass
class _Running:
    """A shard task's trio run, seen from other threads: enough to cancel it."""

    job: str
    key: str  # its Dask task
    token: trio.lowlevel.TrioToken
    scope: trio.CancelScope
    ended: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        with contextlib.suppress(trio.RunFinishedError):
            self.token.run_sync_soon(self.scope.cancel)


class CodshNode(WorkerPlugin):
    """Lives in the worker: the node's kubo API, labels and slots, its Docker client, and the
    shard tasks running now."""

    name = PLUGIN

    def __init__(
        self,
        ipfs_api: str,
        labels: Mapping[str, str],
        slots: int,
        node_id: str,
        cluster: str = "",
        prices: PriceList | None = None,
        warm: int | None = None,
    ) -> None:
        self.ipfs_api = ipfs_api
        self.warm = slots if warm is None else warm  # started containers kept per kind
        self.prices = prices or PriceList()  # published at join, in every inventory answer
        self.labels = dict(labels)
        self.slots = slots
        self.node_id = node_id  # stable across restarts: names this node's containers and scratch
        self.cluster = cluster  # which cluster's member: two clusters' "node0" on one machine
        self.docker: docker.DockerClient | None = None
        self.pool: WarmPool | None = None  # started containers for its next shards
        self.held = BlockIndex()  # what its kubo stores, for big inventory questions
        self.openings = Openings()  # replicated jobs' answers kept back (commit before reveal)
        self._lock = threading.Lock()
        self._running: list[_Running] = []
        self._watch: asyncio.Task[None] | None = None
        self._freshen: asyncio.Task[None] | None = None

    @property
    def scratch(self) -> Path:
        return scratch_folder(self.node_id, self.cluster)

    @property
    def identity(self) -> str:
        """Unique on the machine: the node's name and its cluster's ID (every devstack has a
        node0); its containers carry it, so its start removes only its own leftovers."""
        return node_identity(self.node_id, self.cluster)

    @property
    def container_labels(self) -> dict[str, str]:
        return {NODE_LABEL: self.identity, CLUSTER_LABEL: self.cluster}

    def setup(self, worker: Worker) -> None:
        """Start clean: what a killed previous run of this node left behind is removed."""
        self.docker = docker_client()
        remove_leftovers(self.docker, NODE_LABEL, self.identity)
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir(parents=True)
        self.pool = WarmPool(self.docker, self.identity, self.warm) if self.warm else None
        loop = asyncio.get_running_loop()
        self._watch = loop.create_task(self._watch_released(worker))
        self._freshen = loop.create_task(self._freshen_index())

    def teardown(self, worker: Worker) -> None:
        for task in (self._watch, self._freshen):
            if task is not None:
                task.cancel()
        self.stop_where(lambda _: True)
        if self.pool is not None:
            self.pool.close()

    @contextlib.contextmanager
    def running(self, job: str, key: str) -> Iterator[trio.CancelScope]:
        """Register the calling trio run's shard; its scope is cancelled when the job stops (a
        task that starts after `stop_job` was released by Dask: the watch stops it)."""
        entry = _Running(job, key, trio.lowlevel.current_trio_token(), trio.CancelScope())
        with self._lock:
            self._running.append(entry)
        try:
            yield entry.scope
        finally:
            with self._lock:
                self._running.remove(entry)
            entry.ended.set()

    def stop_where(self, which: Callable[[_Running], bool]) -> list[_Running]:
        with self._lock:
            chosen = [entry for entry in self._running if which(entry)]
        for entry in chosen:
            entry.cancel()
        return chosen

    async def _watch_released(self, worker: Worker) -> None:
        """Dask cannot stop a running task; when it no longer wants one, stop its shard here."""
        while True:
            await asyncio.sleep(WATCH_EVERY)
            self.stop_where(partial(_released, worker.state.tasks))

    async def _freshen_index(self) -> None:
        """Between jobs (no shard running), take the pins made since into the block index, so
        the next round finds it ready (a nightly job on a dataset pinned hours before). Past
        MAX_AGE this lists every block again (~2 s for 62,000), at most once in that time."""
        while True:
            await asyncio.sleep(FRESHEN_EVERY)
            with self._lock:
                busy = bool(self._running)
            if not busy:
                try:
                    await asyncio.to_thread(trio.run, self.held.freshen, self.ipfs_api)
                except Exception as exc:  # noqa: BLE001 - kubo away: the next round says so
                    log.debug("the block index was not freshened: %s", exc)


def scratch_folder(node_id: str, cluster: str = "") -> Path:
    """A node's own scratch folder: its start clears it, so the name says the cluster (two
    devstacks on one machine both have a node0) as well as the node."""
    name = "-".join(part for part in ("codsh-node", node_id, cluster) if part)
    return (scratch_root() or Path(tempfile.gettempdir())) / name


def node_identity(node_id: str, cluster: str = "") -> str:
    """What a node's containers are labelled with (org.codsh.node): `node0@<cluster ID>`."""
    return f"{node_id}@{cluster}" if cluster else node_id


def _released(tasks: Mapping[Any, Any], entry: _Running) -> bool:
    """Dask no longer runs the entry's task (cancelled, released, forgotten)."""
    return getattr(tasks.get(entry.key), "state", None) != "executing"


def _plugin(worker: Worker | None = None) -> CodshNode:
    plugin = (worker or get_worker()).plugins[PLUGIN]
    assert isinstance(plugin, CodshNode)
    return plugin


async def inventory(
    inputs: Sequence[str],
    dask_worker: Worker,
    outputs: Mapping[str, Sequence[str]] | None = None,
) -> Wire:
    """Answer the driver's one round of questions: am I healthy, which `inputs` do I hold,
    which of the remembered outputs asked of me (`outputs`, by node name) do I lack, who am I.

    Run on every node at once by `client.run`; a node holds what its kubo stores, asked about
    the job's CIDs only (cluster/held.py), in a thread: the worker's event loop (its heartbeats,
    the running shards' messages) goes on meanwhile. A Dask worker without the codsh plugin says
    it is not a codsh node, and takes no shard.
    """
    plugin = dask_worker.plugins.get(PLUGIN)
    if not isinstance(plugin, CodshNode):
        return InventoryAnswer(False, error=NOT_CODSH, codsh=False).to_wire()

    mine = asked_of(outputs or {}, str(dask_worker.name))

    async def ask() -> InventoryAnswer:
        with trio.fail_after(INVENTORY_WAIT):
            problem = await engine_problem(plugin.docker)  # no engine, no shard
            if problem:
                raise InfrastructureError(problem)
            async with KuboClient(plugin.ipfs_api) as ipfs:
                peer = (await ipfs.id())["ID"]
            found = await plugin.held.stored(plugin.ipfs_api, [*inputs, *mine])  # one question
        held = tuple(cid for cid in inputs if cid in found)
        missing = tuple(cid for cid in mine if cid not in found)
        prices = plugin.prices.as_dict()
        return InventoryAnswer(
            True, plugin.labels, plugin.slots, held, peer, prices=prices, missing=missing
        )

    try:
        answer = await asyncio.to_thread(trio.run, ask)
    except Exception as exc:  # noqa: BLE001 - a sick node says so instead of failing the round
        error = str(exc) or type(exc).__name__
        answer = InventoryAnswer(False, plugin.labels, plugin.slots, error=error)
    return answer.to_wire()


async def stop_job(job: str, dask_worker: Worker) -> int:
    """Stop job `job`'s shards on this node now (run by the driver on every node when it is
    cancelled); its containers are removed. Returns how many were left to remove by label."""
    plugin = _plugin(dask_worker)
    plugin.openings.forget(job)
    stopping = plugin.stop_where(lambda entry: entry.job == job)
    await asyncio.to_thread(lambda: [entry.ended.wait(STOP_WAIT) for entry in stopping])
    assert plugin.docker is not None
    return await asyncio.to_thread(remove_own, plugin.docker, plugin.identity, job)


def remove_own(engine: docker.DockerClient, identity: str, job: str) -> int:
    """Remove job `job`'s shard containers that node `identity` started (never another
    cluster's, whose job might have the same ID)."""
    return remove_job(engine, job, (f"{NODE_LABEL}={identity}",))


def run_shard_task(
    job: str,
    spec_json: str,
    attempt: int,
    index: int,
    files: Sequence[tuple[str, str, int]],
    topic: str,
) -> Wire:
    """A Dask task: run one shard on this node, pin its outputs here, and tell the driver each
    file's result (on `topic`, within news.EVERY of its being stored); the answer repeats them
    all."""
    worker = get_worker()
    key = str(worker.get_current_task())
    shard = Shard(index, tuple(InputFile(path, cid, size) for path, cid, size in files))

    spec = JobSpec.from_json(spec_json)
    plugin = _plugin(worker)
    # a replicated job's answers travel as commitments, opened when the driver asks
    sealed = plugin.openings.sealer(job, str(worker.name)) if spec.replicas > 1 else _as_is

    def post(event: Wire) -> None:
        with contextlib.suppress(Exception):  # the answer carries them anyway
            worker.log_event(topic, event)

    news = NewsBatch(post)  # a few files a message (cluster/news.py)

    def send(result: FileResult) -> None:
        news.add(FileDone(job, attempt, worker.address, sealed(result), key).to_wire())

    started = time.monotonic()
    shard_run = partial(_run_shard, plugin, spec, shard, job, key, send)
    results, setup, error = trio.run(reporting, news, shard_run)
    usage = ShardUse.of(index, "", results, time.monotonic() - started)
    answer = tuple(sealed(r) for r in results)
    return ShardAnswer(worker.address, answer, setup, error, usage).to_wire()


def _as_is(result: FileResult) -> FileResult:
    return result


async def open_commitments(
    job: str, commitments: Sequence[str], dask_worker: Worker
) -> dict[str, dict[str, Any]]:
    """Run by the driver on the nodes (`client.run`) once every replica of some files has
    committed: the openings of `commitments` this node holds (core/commit.py)."""
    plugin = dask_worker.plugins.get(PLUGIN)
    return plugin.openings.take(job, commitments) if isinstance(plugin, CodshNode) else {}


async def _run_shard(
    plugin: CodshNode,
    spec: JobSpec,
    shard: Shard,
    job: str,
    key: str,
    send: Callable[[FileResult], None],
) -> tuple[list[FileResult], Setup | None, str | None]:
    """The shard's results and setup; or, with the error that stopped it (infrastructure, or the
    job stopping), the results finished before it: they are final, only the rest runs again."""
    engine = plugin.docker
    assert engine is not None
    finished: list[FileResult] = []
    setup: Setup | None = None
    error: str | None = STOPPED

    def progress(result: FileResult) -> None:
        finished.append(result)
        send(result)

    async with KuboClient(plugin.ipfs_api) as ipfs:
        with plugin.running(job, key) as scope, scope:
            labels = {**plugin.container_labels, JOB_LABEL: job}
            try:
                runner, setup = await shard_runner(
                    spec, ipfs, engine, plugin.scratch, labels, pool=plugin.pool
                )
                finished = await runner.run(shard, progress)
                error = None
            except InfrastructureError as exc:  # said plainly: the driver may try another node
                error = exc.message
        with trio.move_on_after(PIN_WAIT if error else math.inf):  # bounded when stopping
            try:  # the node keeps what it produced (cluster/keep.py)
                plugin.held.note(*await keep_outputs(ipfs, finished))
            except CodshError as exc:  # stored but not pinned: kept, and said
                error = error or f"could not pin the outputs: {exc.message}"
    return finished, setup, error


def serve(
    scheduler: str,
    ipfs_api: str,
    labels: Mapping[str, str],
    slots: int,
    tls: Path,
    name: str | None,
    prices: PriceList | None = None,
    host: str | None = None,
    port: int = 0,
    warm: int | None = None,
) -> None:
    """Run a node until it is stopped: a Dask worker with the codsh plugin (on `host`:`port`,
    else loopback for a loopback scheduler, else the address that reaches it, any port), with
    `warm` started containers per kind of shard (None: one per slot)."""
    node_id = name or hashlib.sha256(ipfs_api.encode()).hexdigest()[:12]
    cluster = cluster_id(tls)
    loopback = "127.0.0.1" if scheduler.split("://")[-1].startswith("127.") else None

    async def main() -> None:
        # SIGTERM (systemd, `devstack down`) leaves as a worker does: its plugin's teardown
        # removes the node's warm containers, which would otherwise wait for its next start
        main_task = asyncio.current_task()
        assert main_task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
        while True:  # a worker ends when it loses the scheduler: join again when it is back
            async with Worker(
                scheduler,
                nthreads=slots,
                name=name,
                host=host or loopback,
                port=port,
                security=security(tls),
                plugins=(CodshNode(ipfs_api, labels, slots, node_id, cluster, prices, warm),),
                resources={"slots": slots},
            ) as worker:
                await worker.finished()
            await asyncio.sleep(1)

    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(main())
