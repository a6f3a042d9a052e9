"""Faults on a 3-node devstack: a node killed mid-job (before or after some of its files are
done), the scheduler killed, a node whose kubo is down, a job cancelled from the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import docker
import pytest
import trio

from codsh import devstack, kubo_daemon
from codsh.cluster.execution import ClusterExecution
from codsh.cluster.node import node_identity
from codsh.cluster.tls import cluster_id
from codsh.config import jobs_db
from codsh.core.spec import JobSpec
from codsh.errors import ServiceUnavailable
from codsh.executor.container import (
    NODE_LABEL,
    ROLE_LABEL,
    docker_client,
    job_containers,
)
from codsh.ipfs.client import KuboClient
from codsh.jobs.finish import JobResult
from codsh.jobs.run import run_job
from codsh.jobs.store import JobStore
from tests.cluster.timed import Timed
from tests.conftest import run
from tests.executor.test_warm import job_of

CODSH = str(Path(sys.executable).with_name("codsh"))
SLOW_CAT = "sleep 1; cat"  # a second per file: long enough to kill a node in the middle


def make_dataset(stack: list[devstack.NodeStatus], root: Path, replicas: int) -> str:
    for index in range(9):
        (root / f"f{index}.log").write_text(f"line {index}\n")
    current = [str(n.api_url) for n in devstack.status()]  # a restarted kubo has a new API port
    return run(devstack.add_spread, root, replicas, current)


def submit(
    stack: list[devstack.NodeStatus],
    spec: JobSpec,
    kill: str | None = None,
    events: Timed | None = None,
) -> JobResult:
    """Run `spec` on the cluster; with `kill`, SIGKILL that node's worker as soon as its shard
    container runs (before any of its files is done) or, with `events`, as soon as the driver got
    one of its files; for "scheduler", kill the scheduler 2 s into the job, and the devstack
    starts it again on the same address."""
    info = devstack.scheduler_info()
    assert info is not None
    result: list[JobResult] = []
    job_key = uuid.uuid4().hex[:12]
    home = Path(os.environ["CODSH_HOME"]) / "devstack"

    async def job() -> None:
        async with KuboClient(str(stack[0].api_url)) as ipfs:
            execution = ClusterExecution(info["address"], devstack.tls_dir(), job_key)
            result.append(await run_job(spec, ipfs, execution, events))

    async def kill_node(node: str) -> None:
        if events is not None:
            while node not in {r.node for _, r in events.files}:
                await trio.sleep(0.02)
        else:
            while not await trio.to_thread.run_sync(shard_containers, job_key, node):
                await trio.sleep(0.05)
        os.kill(int((home / node / "worker.pid").read_text()), signal.SIGKILL)

    async def kill_scheduler(restart: bool = True) -> None:
        await trio.sleep(2)
        os.kill(int((home / "scheduler.pid").read_text()), signal.SIGKILL)
        if restart:
            await trio.sleep(1)  # a separate process, as a user would (one Dask client each)
            await trio.run_process([CODSH, "devstack", "up", "--nodes", "3"], capture_stderr=True)

    async def go() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(job)
            if kill == "scheduler":
                nursery.start_soon(kill_scheduler)
            elif kill == "scheduler for good":
                nursery.start_soon(kill_scheduler, False)
            elif kill:
                nursery.start_soon(kill_node, kill)

    run(go, deadline=300)
    return result[0]


def shard_containers(job: str, node: str | None = None, every: bool = False) -> list[Any]:
    """The shard containers of job key `job` (on `node`), running or, with `every`, any (the
    plain listing: `containers.list` fails on a container removed while it lists)."""
    labels = (
        (f"{NODE_LABEL}={node_identity(node, cluster_id(devstack.tls_root()))}",) if node else ()
    )
    listed: list[Any] = job_containers(docker_client(), job, labels, every)
    return listed


@pytest.mark.slow
def test_a_node_killed_mid_job_gives_the_same_output(
    stack: list[devstack.NodeStatus], tmp_path: Path, engine: docker.DockerClient, image_id: str
) -> None:
    dataset = make_dataset(stack, tmp_path, replicas=1)
    spec = JobSpec(SLOW_CAT, dataset, image_digest=image_id)
    undisturbed = submit(stack, spec)
    assert undisturbed.ok and undisturbed.placement and undisturbed.placement.rescheduled == 0

    disturbed = submit(stack, spec, kill="node2")
    assert disturbed.ok, [r.error for r in disturbed.failed]
    assert disturbed.output_cid == undisturbed.output_cid
    assert disturbed.placement is not None and disturbed.placement.rescheduled == 1
    assert "node2" not in {r.node for r in disturbed.files}  # its shard ran elsewhere, whole
    # the report counts where the files ran, not where their shards were placed first
    assert "node2" not in disturbed.placement.shards_per_node
    assert sum(disturbed.placement.files_per_node.values()) == len(disturbed.files)
    assert "node2" not in disturbed.placement.files_per_node

    devstack.up(3)  # the node comes back and clears what its killed run left behind
    node2 = node_identity("node2", cluster_id(devstack.tls_root()))
    leftovers = engine.containers.list(all=True, filters={"label": f"{NODE_LABEL}={node2}"})
    assert leftovers == []


@pytest.mark.slow
def test_a_node_killed_after_some_files_keeps_them_and_reruns_only_the_rest(
    stack: list[devstack.NodeStatus], tmp_path: Path, image_id: str
) -> None:
    dataset = make_dataset(stack, tmp_path, replicas=1)
    spec = JobSpec(SLOW_CAT, dataset, image_digest=image_id)
    undisturbed = submit(stack, spec)
    its_shard = {r.path for r in undisturbed.files if r.node == "node2"}

    timed = Timed()
    disturbed = submit(stack, spec, kill="node2", events=timed)
    devstack.up(3)
    assert disturbed.ok, [r.error for r in disturbed.failed]
    assert disturbed.output_cid == undisturbed.output_cid
    assert sorted(timed.paths()) == sorted(r.path for r in disturbed.files)  # each file once
    kept = {r.path for r in disturbed.files if r.node == "node2"}
    assert kept and kept == set(timed.paths("node2"))  # what it reported before dying stays
    assert kept < its_shard  # ... and only the rest of its shard ran again, elsewhere
    assert disturbed.placement is not None and disturbed.placement.rescheduled == 1


def test_a_node_whose_kubo_is_down_takes_no_shard(
    stack: list[devstack.NodeStatus], tmp_path: Path, image_id: str
) -> None:
    dataset = make_dataset(stack, tmp_path, replicas=2)  # every file survives one node's loss
    kubo_daemon.stop(stack[1].repo)
    try:
        result = submit(stack, JobSpec("cat", dataset, image_digest=image_id))
    finally:
        devstack.up(3)
    assert result.ok
    assert result.placement is not None and "node1" not in result.placement.shards_per_node
    assert {r.node for r in result.files} <= {"node0", "node2"}
    again = submit(devstack.status(), JobSpec("cat", dataset, image_digest=image_id))
    assert again.ok and again.output_cid == result.output_cid  # node1 is back, with its new API
    assert again.placement is not None and "node1" in again.placement.shards_per_node


@pytest.mark.slow
def test_the_scheduler_killed_and_restarted_mid_job_gives_the_same_output(
    stack: list[devstack.NodeStatus], tmp_path: Path, image_id: str
) -> None:
    dataset = make_dataset(stack, tmp_path, replicas=1)
    spec = JobSpec(SLOW_CAT, dataset, image_digest=image_id)
    undisturbed = submit(stack, spec)
    disturbed = submit(stack, spec, kill="scheduler")
    assert disturbed.ok, [r.error for r in disturbed.failed]
    assert disturbed.output_cid == undisturbed.output_cid
    assert disturbed.placement is not None and disturbed.placement.rescheduled >= 1


@pytest.mark.slow
def test_a_job_cancelled_from_the_cli_stops_its_containers_and_keeps_what_finished(
    stack: list[devstack.NodeStatus], tmp_path: Path, image_id: str
) -> None:
    dataset = make_dataset(stack, tmp_path, replicas=1)
    info = devstack.scheduler_info()
    assert info is not None
    env = {**os.environ, "CODSH_IPFS": str(stack[0].api_url)}
    where = ["--scheduler", info["address"], "--tls", str(devstack.tls_dir())]
    before = running_job_keys()
    command = [CODSH, "run", "-e", "sleep 2; cat", "-c", dataset, *where, "--detach"]
    submitted = time.monotonic()
    job_id = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60).stdout
    job_id = job_id.strip()
    store = JobStore(jobs_db())
    keys: set[str] = set()
    while time.monotonic() < submitted + 5 or not (keys and store.results(job_id)):
        assert time.monotonic() < submitted + 60, "the job did not start"
        keys = keys or running_job_keys() - before
        time.sleep(0.2)
    (key,) = keys  # the job's label on its containers, on every node

    cancelled = time.monotonic()
    cancel = subprocess.run([CODSH, "job", "cancel", job_id], env=env, capture_output=True)
    assert cancel.returncode == 0, cancel.stderr
    while shard_containers(key, every=True) and time.monotonic() < cancelled + 5:
        time.sleep(0.1)
    assert shard_containers(key, every=True) == [] and time.monotonic() < cancelled + 5

    describe = [CODSH, "job", "describe", job_id, "--json"]
    record = json.loads(subprocess.run(describe, env=env, capture_output=True).stdout)
    assert record["state"] == "cancelled"
    with store:
        kept = store.results(job_id)
    assert 1 <= len(kept) < 9 and all(r.ok and r.node for r in kept.values())


def running_job_keys() -> set[str]:
    """The job keys on the running shard containers of this devstack's nodes."""
    filters = {"label": f"{ROLE_LABEL}=shard"}
    containers = docker_client().api.containers(filters=filters)
    cluster = cluster_id(devstack.tls_root())
    names = {node_identity(node.name, cluster) for node in devstack.status()}
    ours = [c for c in containers if c["Labels"].get(NODE_LABEL) in names]
    return {job for job in map(job_of, ours) if job}  # a warm one nobody took serves none


@pytest.mark.slow
def test_the_scheduler_gone_for_good_is_a_service_error_not_a_traceback(
    stack: list[devstack.NodeStatus], tmp_path: Path, image_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16, finding 9: the job waits RECONNECT_TIMEOUT (120 s; 8 s here) for the scheduler,
    then ends with an error that says what to do (exit 2 on the CLI), not `No clients found`."""
    monkeypatch.setattr("codsh.cluster.execution.RECONNECT_TIMEOUT", 8.0)
    dataset = make_dataset(stack, tmp_path, replicas=1)
    spec = JobSpec("sleep 2; cat", dataset, image_digest=image_id)
    started = time.monotonic()
    try:
        with pytest.raises(ExceptionGroup) as caught:  # the test's own nursery (job + killer)
            submit(stack, spec, kill="scheduler for good")
        [error] = caught.value.exceptions  # the job's error itself, not a group of its tasks
        assert isinstance(error, ServiceUnavailable) and "did not come back" in str(error)
        assert "codsh job resume" in error.hint
        assert time.monotonic() - started < 90
    finally:  # the module's later tests (if any) get their scheduler back
        subprocess.run([CODSH, "devstack", "up", "--nodes", "3"], capture_output=True, check=False)
