"""Two devstacks on one machine (two users, or a test run beside a demo) both name their nodes
node0..N-1: a node that starts removes only its own cluster's leftovers (issue 16, finding 6)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import trio

from codsh import devstack
from codsh.cluster.execution import ClusterExecution
from codsh.cluster.node import node_identity
from codsh.cluster.tls import cluster_id
from codsh.core.spec import JobSpec
from codsh.executor.container import (
    NODE_LABEL,
    docker_client,
    job_containers,
)
from codsh.ipfs.client import KuboClient
from codsh.jobs.finish import JobResult
from codsh.jobs.run import run_job
from codsh.processes import stop_pid
from tests.conftest import run

SLOW_CAT = "sleep 3; cat"  # 9 s a shard: a's still run while b's node0 starts again


def dataset(root: Path, tag: str) -> Path:
    root.mkdir()
    for index in range(6):
        (root / f"f{index}.log").write_text(f"{tag} line {index}\n")
    return root


def containers_of(job: str) -> list[object]:
    listed: list[object] = job_containers(docker_client(), job, every=False)
    return listed


@pytest.mark.slow
def test_two_devstacks_on_one_machine_run_jobs_at_once_both_correct(
    tmp_path: Path, image_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    homes = {"a": tmp_path / "a", "b": tmp_path / "b"}
    stacks: dict[str, list[devstack.NodeStatus]] = {}
    inputs: dict[str, str] = {}
    results: dict[str, JobResult] = {}
    keys = {name: uuid.uuid4().hex[:12] for name in homes}

    def up(name: str) -> None:  # CODSH_HOME says which devstack (the nodes get it at start)
        monkeypatch.setenv("CODSH_HOME", str(homes[name]))
        stacks[name] = devstack.up(1)
        urls = [str(node.api_url) for node in stacks[name]]
        inputs[name] = run(devstack.add_spread, dataset(tmp_path / f"in-{name}", name), 1, urls)

    def restart_node0(name: str) -> None:
        monkeypatch.setenv("CODSH_HOME", str(homes[name]))
        stop_pid(int((homes[name] / "devstack" / "node0" / "worker.pid").read_text()))
        devstack.up(1)  # kubo and the scheduler run: only the codsh node starts

    async def job(name: str, info: dict[str, str], tls: Path) -> None:
        spec = JobSpec(SLOW_CAT, inputs[name], image_digest=image_id)
        async with KuboClient(str(stacks[name][0].api_url)) as ipfs:
            execution = ClusterExecution(info["address"], tls, keys[name])
            results[name] = await run_job(spec, ipfs, execution)

    async def both() -> None:
        async with trio.open_nursery() as nursery:
            info_a = devstack.scheduler_info()
            assert info_a is not None
            nursery.start_soon(job, "a", info_a, devstack.tls_dir())
            while not await trio.to_thread.run_sync(containers_of, keys["a"]):
                await trio.sleep(0.05)
            # b's node0 starts (again) while a's node0 runs shards: it must not remove them
            await trio.to_thread.run_sync(restart_node0, "b")
            info_b = devstack.scheduler_info()
            assert info_b is not None
            assert "a" not in results  # a's job still runs: b's node0 started beside it
            nursery.start_soon(job, "b", info_b, devstack.tls_dir())

    try:
        up("b")
        up("a")
        run(both, deadline=240)
        for name in homes:
            result = results[name]
            assert result.ok, [(r.path, r.error) for r in result.failed]
            assert result.output_cid == inputs[name]  # cat: the very files, the same tree
            assert result.placement is not None and result.placement.rescheduled == 0
        # each node's containers and scratch folder say its cluster
        ids = {name: cluster_id(homes[name] / "devstack" / "tls") for name in homes}
        assert ids["a"] != ids["b"]
        assert node_identity("node0", ids["a"]) != node_identity("node0", ids["b"])
    finally:
        for home in homes.values():
            monkeypatch.setenv("CODSH_HOME", str(home))
            devstack.down(purge=True)
    labels = [f"{NODE_LABEL}={node_identity('node0', i)}" for i in ids.values()]
    assert all(not docker_client().api.containers(filters={"label": [x]}) for x in labels)
