"""Run a job on the cluster: list, ask every node what it holds, place by locality, submit, merge.

Dask does the scheduling, the transport and the bookkeeping of tasks; the driver only decides where
each shard should run (codsh/placement.py) and merges the nodes' output CIDs by reference.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import trio
from distributed import Client

from codsh.cluster.node import inventory
from codsh.cluster.tasks import ShardTasks
from codsh.cluster.tls import security
from codsh.driver import JobResult, Recall, finish_job, split_done
from codsh.errors import InputError, ServiceUnavailable
from codsh.executor.shard import FileResult
from codsh.inputs import InputTree, list_input
from codsh.ipfs.client import KuboClient
from codsh.placement import LocalityReport, Node, Placement, PlacementError, place
from codsh.plan import InputFile
from codsh.spec import JobSpec

CONNECT_TIMEOUT = 20.0
RECONNECT_TIMEOUT = 120.0  # how long a job waits for a restarted scheduler


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


def wait_for_nodes(scheduler: str, tls: Path, count: int, wait: float) -> None:
    """Block until `count` codsh nodes have joined the scheduler (or say which are missing)."""
    client = connect(scheduler, tls)
    try:
        client.wait_for_workers(count, timeout=wait)
    except TimeoutError as exc:
        joined = len(client.scheduler_info()["workers"])
        raise ServiceUnavailable(
            f"only {joined} of {count} codsh nodes joined {scheduler} within {wait:g}s",
            "see the nodes' worker.log files (under the devstack folder for a devstack)",
        ) from exc
    finally:
        client.close()


def plan(
    answers: Mapping[str, Any],
    files: list[InputFile],
    select: Mapping[str, str],
    shard_size: int = 1000,
) -> tuple[Placement, dict[str, frozenset[str]]]:
    """Placement from the nodes' answers to the inventory round (sick nodes take no shard), and
    who holds what (file CID -> node addresses)."""
    nodes = [
        Node(address, int(answer["slots"]), answer["labels"])
        for address, answer in answers.items()
        if answer.get("healthy")
    ]
    if not nodes:
        sick = "; ".join(f"{a}: {x.get('error')}" for a, x in answers.items()) or "no node joined"
        raise ServiceUnavailable(
            f"no healthy codsh node ({sick})", "start nodes with `codsh node join` or the devstack"
        )
    holders: dict[str, set[str]] = {}
    for address, answer in answers.items():
        for cid in answer.get("held", []):
            holders.setdefault(cid, set()).add(address)
    held = {cid: frozenset(where) for cid, where in holders.items()}
    try:
        return place(files, held, nodes, select=select, max_files=shard_size), held
    except PlacementError as exc:
        raise InputError(str(exc), "check --select against the nodes' labels") from exc


async def run_cluster_job(
    spec: JobSpec,
    ipfs: KuboClient,
    scheduler: str,
    tls: Path,
    *,
    select: Mapping[str, str] | None = None,
    find_timeout: float = 30.0,
    shard_size: int = 1000,
    on_listed: Callable[[InputTree], None] = lambda _: None,
    on_file: Callable[[FileResult], None] = lambda _: None,
    done: Mapping[str, FileResult] | None = None,
    recall: Recall | None = None,
) -> JobResult:
    """Run `spec` on the cluster. Files in `done` (an earlier run of the job) are not run again,
    nor are files whose result `recall` knows (the memo) when a node still holds their output."""
    started = time.monotonic()
    tree = await list_input(ipfs, spec.input, find_timeout)
    on_listed(tree)
    inputs = sorted({f.cid for f in tree.files})
    known = await recall(inputs) if recall else {}
    outputs = {r.output_cid for r in known.values() if r.output_cid}
    client = await trio.to_thread.run_sync(connect, scheduler, tls)
    try:
        # one round: who holds which input, and which remembered outputs are still held
        question = sorted(outputs.union(inputs))
        answers = await trio.to_thread.run_sync(lambda: client.run(inventory, question))
        held = {cid for answer in answers.values() for cid in answer.get("held", [])}
        work = split_done(tree, done or {}, known, held, on_file, dedupe=recall is not None)
        placement, holders = plan(answers, work.todo, select or {}, shard_size)
        names = await trio.to_thread.run_sync(worker_names, client)
        tasks = ShardTasks(client, spec, holders, names, on_file, work.twins)
        results = work.complete(await trio.to_thread.run_sync(tasks.run, placement.tasks))
    finally:
        await trio.to_thread.run_sync(client.close)
    report = replace(LocalityReport.of(placement, names), rescheduled=tasks.rescheduled)
    return await finish_job(ipfs, spec, tree, results, started, report, tasks.setup)


def worker_names(client: Client) -> dict[str, str]:
    """Dask worker address -> the name it joined with (what reports show)."""
    workers = client.scheduler_info()["workers"]
    return {address: str(info.get("name") or address) for address, info in workers.items()}
