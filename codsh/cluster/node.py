"""A codsh node: a Dask worker with a plugin that knows its kubo, its labels and its slots.

Dask schedules, reschedules and reports; what runs on the node is codsh's own shard executor (the
same one as the one-node path) against the node's own kubo and Docker engine.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import docker
import trio
from distributed import Worker, WorkerPlugin, get_worker

from codsh.cluster.tls import security
from codsh.config import scratch_root
from codsh.errors import InfrastructureError
from codsh.executor.container import NODE_LABEL, docker_client, remove_leftovers
from codsh.executor.runners import Setup, shard_runner
from codsh.executor.shard import FileResult
from codsh.ipfs.client import KuboClient
from codsh.plan import InputFile, Shard
from codsh.spec import JobSpec

PLUGIN = "codsh"


class CodshNode(WorkerPlugin):
    """Lives in the worker: the node's kubo API, labels and slots, and its Docker client."""

    name = PLUGIN

    def __init__(self, ipfs_api: str, labels: Mapping[str, str], slots: int, node_id: str) -> None:
        self.ipfs_api = ipfs_api
        self.labels = dict(labels)
        self.slots = slots
        self.node_id = node_id  # stable across restarts: names this node's containers and scratch
        self.docker: docker.DockerClient | None = None

    @property
    def scratch(self) -> Path:
        return (scratch_root() or Path(tempfile.gettempdir())) / f"codsh-node-{self.node_id}"

    def setup(self, worker: Worker) -> None:
        """Start clean: what a killed previous run of this node left behind is removed."""
        self.docker = docker_client()
        remove_leftovers(self.docker, NODE_LABEL, self.node_id)
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir(parents=True)


def _plugin(worker: Worker | None = None) -> CodshNode:
    plugin = (worker or get_worker()).plugins[PLUGIN]
    assert isinstance(plugin, CodshNode)
    return plugin


def inventory(cids: Sequence[str], dask_worker: Worker) -> dict[str, Any]:
    """Answer the driver's one round of questions: am I healthy, what do I hold, who am I.

    Run on every node at once by `client.run`; a node holds what its kubo has pinned.
    """
    plugin = _plugin(dask_worker)

    async def ask() -> dict[str, Any]:
        async with KuboClient(plugin.ipfs_api) as ipfs:
            peer = (await ipfs.id())["ID"]
            pinned = await ipfs.pin_ls()
        wanted = set(cids)
        return {"peer": peer, "held": sorted(wanted.intersection(pinned))}

    try:
        answer = trio.run(ask)
    except Exception as exc:  # noqa: BLE001 - a sick node says so instead of failing the round
        return {"healthy": False, "error": str(exc), "labels": plugin.labels, "slots": plugin.slots}
    return {"healthy": True, "labels": plugin.labels, "slots": plugin.slots, **answer}


def run_shard_task(
    spec_json: str, index: int, files: Sequence[tuple[str, str, int]]
) -> dict[str, Any]:
    """A Dask task: run one shard on this node, pin its outputs here, return the file results."""
    worker = get_worker()
    plugin = _plugin(worker)
    engine = plugin.docker
    assert engine is not None
    spec = JobSpec.from_json(spec_json)
    shard = Shard(index, tuple(InputFile(path, cid, size) for path, cid, size in files))

    async def run() -> tuple[list[FileResult], Setup | None]:
        async with KuboClient(plugin.ipfs_api) as ipfs:
            labels = {NODE_LABEL: plugin.node_id}
            runner, setup = await shard_runner(spec, ipfs, engine, plugin.scratch, labels)
            results = await runner.run(shard)
            # the node keeps what it produced (one request: a pin per output costs ~1 ms each)
            await ipfs.pin_add(*sorted({r.output_cid for r in results if r.output_cid}))
        return results, setup

    try:
        results, setup = trio.run(run)
    except InfrastructureError as exc:  # said plainly: the driver may try another node
        return {"node": worker.address, "infrastructure_error": exc.message}
    answer = {"node": worker.address, "results": [asdict(r) for r in results]}
    return answer | ({"setup": asdict(setup)} if setup else {})


def serve(
    scheduler: str,
    ipfs_api: str,
    labels: Mapping[str, str],
    slots: int,
    tls: Path,
    name: str | None,
) -> None:
    """Run a node until it is stopped: a Dask worker with the codsh plugin."""
    node_id = name or hashlib.sha256(ipfs_api.encode()).hexdigest()[:12]

    async def main() -> None:
        while True:  # a worker ends when it loses the scheduler: join again when it is back
            async with Worker(
                scheduler,
                nthreads=slots,
                name=name,
                host="127.0.0.1" if scheduler.split("://")[-1].startswith("127.") else None,
                security=security(tls),
                plugins=(CodshNode(ipfs_api, labels, slots, node_id),),
                resources={"slots": slots},
            ) as worker:
                await worker.finished()
            await asyncio.sleep(1)

    asyncio.run(main())
