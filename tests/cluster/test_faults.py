"""Faults on a 3-node devstack: a node killed mid-job, a node whose kubo is down."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import docker
import pytest
import trio

from codsh import devstack, kubo_daemon
from codsh.cluster.driver import run_cluster_job
from codsh.driver import JobResult
from codsh.ipfs.client import KuboClient
from codsh.spec import JobSpec
from tests.conftest import run

CODSH = str(Path(sys.executable).with_name("codsh"))
SLOW_CAT = "sleep 1; cat"  # a second per file: long enough to kill a node in the middle


def make_dataset(stack: list[devstack.NodeStatus], root: Path, replicas: int) -> str:
    for index in range(9):
        (root / f"f{index}.log").write_text(f"line {index}\n")
    current = [str(n.api_url) for n in devstack.status()]  # a restarted kubo has a new API port
    return run(devstack.add_spread, root, replicas, current)


def submit(stack: list[devstack.NodeStatus], spec: JobSpec, kill: str | None = None) -> JobResult:
    """Run `spec` on the cluster; with `kill`, SIGKILL that node's worker 2 s into the job (or,
    for "scheduler", the scheduler, which the devstack then starts again on the same address)."""
    info = devstack.scheduler_info()
    assert info is not None
    result: list[JobResult] = []

    async def job() -> None:
        async with KuboClient(str(stack[0].api_url)) as ipfs:
            result.append(await run_cluster_job(spec, ipfs, info["address"], devstack.tls_dir()))

    async def go() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(job)
            if kill:
                await trio.sleep(2)
                home = Path(os.environ["CODSH_HOME"]) / "devstack"
                scheduler = kill == "scheduler"
                pid_file = home / "scheduler.pid" if scheduler else home / kill / "worker.pid"
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
                if scheduler:  # a separate process, as a user would (one Dask client per process)
                    await trio.sleep(1)
                    await trio.run_process(
                        [CODSH, "devstack", "up", "--nodes", "3"], capture_stderr=True
                    )

    run(go, deadline=300)
    return result[0]


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

    devstack.up(3)  # the node comes back and clears what its killed run left behind
    leftovers = engine.containers.list(all=True, filters={"label": "org.codsh.node=node2"})
    assert leftovers == []


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
