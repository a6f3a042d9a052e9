"""The cluster on a 3-node devstack: real kubo daemons, a real Dask scheduler and workers, real Docker.

Shards run where their files are stored, outputs are merged by reference, and the result is the
CID a one-node run gives.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import pytest
import wasmtime

from codsh import devstack, images
from codsh.cluster.execution import ClusterExecution
from codsh.config import kubo_binary
from codsh.core.folders import MIN_FILES
from codsh.core.spec import CONCAT, PER_FILE, PYTHON, PYTHON_IMAGE, WASM, JobSpec
from codsh.functions.bundle import make_bundle
from codsh.images.python import pip_target
from codsh.ipfs.client import AddOptions, KuboClient
from codsh.jobs.events import Events
from codsh.jobs.finish import JobResult
from codsh.jobs.local import LocalExecution
from codsh.jobs.run import run_job
from codsh.jobs.store import JobStore
from tests.cluster.timed import Timed
from tests.conftest import run

LISBON = "sed -n '/38.7[2-4]....,-9.1[3-5]..../p'"


def weather_logs(root: Path, count: int) -> Path:
    """`count` hourly logs in two folders; the first ones are the same whatever `count` is."""
    for index in range(count):
        lines = [
            f"2016-01-01T{index:02d}:{m:02d}:00Z,38.73{m % 10}946,-9.14{index % 10}685,14.2,1013.2,0.4"
            if m % 2
            else f"2016-01-01T{index:02d}:{m:02d}:00Z,41.157944,-8.629105,12.0,1010.0,0.0"
            for m in range(10)
        ]
        path = root / f"{2016 + index % 2}" / f"hour-{index:02d}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def dataset(stack: list[devstack.NodeStatus], tmp_path_factory: pytest.TempPathFactory) -> str:
    """Twelve hourly logs, each stored on exactly one of the three nodes."""
    root = weather_logs(tmp_path_factory.mktemp("weather"), 12)
    return run(devstack.add_spread, root, 1, [n.api_url for n in stack if n.api_url])


def cluster_run(
    stack: list[devstack.NodeStatus],
    spec: JobSpec,
    memo: JobStore | None = None,
    events: Events | None = None,
    suspects: frozenset[str] = frozenset(),
    **target: Any,
) -> JobResult:
    """Run `spec` on the devstack's cluster, with `target` (e.g. select=...) as its run target."""
    info = devstack.scheduler_info()
    assert info is not None
    spec = replace(spec, target=replace(spec.target, **target))
    execution = ClusterExecution(info["address"], devstack.tls_dir(), suspects=suspects)

    async def go() -> JobResult:
        async with KuboClient(str(stack[0].api_url)) as ipfs:
            return await run_job(spec, ipfs, execution, events, memo=memo)

    return run(go, deadline=300)


def local_run(
    stack: list[devstack.NodeStatus], spec: JobSpec, engine: docker.DockerClient
) -> JobResult:
    async def go() -> JobResult:
        async with KuboClient(str(stack[0].api_url)) as ipfs:
            return await run_job(spec, ipfs, LocalExecution(engine))

    return run(go, deadline=300)


def test_shards_run_where_the_data_is_and_match_a_one_node_run(
    stack: list[devstack.NodeStatus], dataset: str, engine: docker.DockerClient, image_id: str
) -> None:
    for mode in (PER_FILE, CONCAT):
        spec = JobSpec(LISBON, dataset, image_digest=image_id, mode=mode)
        on_cluster = cluster_run(stack, spec)
        assert on_cluster.ok and len(on_cluster.files) == 12
        assert on_cluster.placement is not None
        assert on_cluster.placement.locality == 1.0 and on_cluster.placement.bytes_moved == 0
        assert on_cluster.placement.shards_per_node == {"node0": 1, "node1": 1, "node2": 1}
        assert on_cluster.output_cid == local_run(stack, spec, engine).output_cid

    kubo_of = {node.name: str(node.api_url) for node in stack}  # workers are named after nodes

    async def stored_where_run(result_node: str, cid: str) -> bool:
        async with KuboClient(kubo_of[result_node]) as ipfs:
            return await ipfs.has_block(cid)

    for result in on_cluster.files:
        assert run(stored_where_run, result.node, result.input_cid), result.path


def test_select_restricts_to_labelled_nodes_and_reports_moved_bytes(
    stack: list[devstack.NodeStatus], dataset: str, image_id: str
) -> None:
    spec = JobSpec("wc -l", dataset, image_digest=image_id)
    result = cluster_run(stack, spec, select={"devstack": "node1"})
    assert result.ok
    assert result.placement is not None
    assert result.placement.shards_per_node == {"node1": 1}
    assert {r.node for r in result.files} == {"node1"}
    assert 0.2 < result.placement.locality < 0.5  # a third of the files are on node1
    assert result.placement.bytes_moved > 0


def test_a_client_without_the_certificates_is_refused(stack: list[devstack.NodeStatus]) -> None:
    info = devstack.scheduler_info()
    assert info is not None and info["address"].startswith("tls://")
    # another process, as an outsider would be (a failed client must not disturb this one's loop)
    attempt = f"from distributed import Client; Client({info['address']!r}, timeout=5)"
    outsider = subprocess.run([sys.executable, "-c", attempt], capture_output=True, timeout=120)
    assert outsider.returncode != 0
    log = (Path(os.environ["CODSH_HOME"]) / "devstack" / "scheduler.log").read_text()
    assert "TLS handshake failed" in log


def test_an_infrastructure_failure_is_tried_on_one_other_node(
    stack: list[devstack.NodeStatus], dataset: str
) -> None:
    # an image no node has: the container cannot start anywhere (infrastructure, not the command)
    missing = "sha256:" + "0" * 64
    result = cluster_run(stack, JobSpec("cat", dataset, image_digest=missing))
    assert len(result.failed) == 12
    errors = {r.error for r in result.failed}
    assert all(
        e and e.count("infrastructure failed on") == 1 and "; then on node" in e for e in errors
    )
    assert result.placement is not None and result.placement.rescheduled == 3  # one retry each


def test_nodes_report_each_file_as_it_is_stored_not_at_the_end_of_its_shard(
    stack: list[devstack.NodeStatus], dataset: str, image_id: str
) -> None:
    timed = Timed()
    # 1.5 s per file: longer than an output add request stays open (BATCH_SECONDS, 1 s), so each
    # file's result is complete on its own, 1.5 s after the one before it in its shard
    spec = JobSpec("sleep 1.5; cat", dataset, image_digest=image_id)
    result = cluster_run(stack, spec, events=timed)
    assert result.ok and sorted(timed.paths()) == sorted(r.path for r in result.files)
    arrived: dict[str, list[float]] = {}
    for at, file in timed.files:
        arrived.setdefault(file.node, []).append(at)
    assert sorted(arrived) == ["node0", "node1", "node2"]
    first_shard_end = min(max(times) for times in arrived.values())
    assert min(at for at, _ in timed.files) < first_shard_end - 1.0  # a file of 1.5 s later
    assert all(max(times) - min(times) > 1.0 for times in arrived.values())


def test_shard_size_bounds_the_files_per_shard(
    stack: list[devstack.NodeStatus], dataset: str, image_id: str
) -> None:
    result = cluster_run(stack, JobSpec("cat", dataset, image_digest=image_id), shard_size=2)
    assert result.ok and result.placement is not None
    assert result.placement.shards_per_node == {"node0": 2, "node1": 2, "node2": 2}  # 4 files each


def test_a_rerun_on_a_grown_dataset_runs_only_the_new_files_where_they_are(
    stack: list[devstack.NodeStatus],
    dataset: str,
    image_id: str,
    tmp_path: Path,
) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    spec = JobSpec("wc -c", dataset, image_digest=image_id)
    first = cluster_run(stack, spec)
    store.save_results("day1", first.files, memo_of=spec)

    grown_root = weather_logs(tmp_path / "grown", 14)
    grown = run(devstack.add_spread, grown_root, 1, [n.api_url for n in stack if n.api_url])
    grown_spec = replace(spec, input=grown)

    rerun = cluster_run(stack, grown_spec, memo=store)
    assert rerun.ok and len(rerun.files) == 14
    assert sorted(r.path for r in rerun.files if not r.reused) == [
        "2016/hour-12.log",
        "2017/hour-13.log",
    ]
    assert rerun.placement is not None and rerun.placement.locality == 1.0
    assert rerun.output_cid == cluster_run(stack, grown_spec).output_cid  # a full run's CID


def forget_everywhere(stack: list[devstack.NodeStatus], cid: str) -> None:
    """Unpin `cid` on every node that pins it and collect garbage there: no node stores it. A
    node that keeps it under a holder of its shard's outputs (cluster/keep.py) pins the holder's
    other outputs one by one instead."""
    for node in stack:
        env = {**os.environ, "IPFS_PATH": str(node.repo)}

        def ipfs(*args: str, env: dict[str, str] = env) -> list[str]:
            done = subprocess.run(
                [kubo_binary(), *args], env=env, capture_output=True, text=True, timeout=60
            )
            return done.stdout.split()

        ipfs("pin", "rm", cid)
        for holder in ipfs("pin", "ls", "--type=recursive", "-q"):
            links = ipfs("refs", holder)
            if cid in links:
                ipfs("pin", "add", *(link for link in links if link != cid))
                ipfs("pin", "rm", holder)
        gc = subprocess.run([kubo_binary(), "repo", "gc"], env=env, capture_output=True, timeout=60)
        assert gc.returncode == 0, gc.stderr


def test_a_remembered_output_gone_from_every_node_runs_its_file_again_where_its_input_is(
    stack: list[devstack.NodeStatus],
    dataset: str,
    image_id: str,
    tmp_path: Path,
) -> None:
    """The inventory asks only about the inputs of files that may run; a file whose remembered
    output is gone learns its input's holders in a second round, so it still runs in place."""
    store = JobStore(tmp_path / "jobs.sqlite")
    spec = JobSpec("tr 0-9 a-j", dataset, image_digest=image_id)  # no output is an input
    first = cluster_run(stack, spec)
    store.save_results("day1", first.files, memo_of=spec)
    outputs = [r.output_cid for r in first.files]
    lost = next(r for r in first.files if outputs.count(r.output_cid) == 1)
    assert lost.output_cid is not None
    forget_everywhere(stack, lost.output_cid)

    rerun = cluster_run(stack, spec, memo=store)
    assert rerun.ok and len(rerun.files) == len(first.files)
    assert [r.path for r in rerun.files if not r.reused] == [lost.path]
    assert rerun.placement is not None and rerun.placement.locality == 1.0
    assert rerun.output_cid == first.output_cid


def test_a_rerun_links_unchanged_folders_whole_while_every_node_still_holds_their_outputs(
    stack: list[devstack.NodeStatus], image_id: str, tmp_path: Path
) -> None:
    """The folder memo on the cluster: the nodes are asked about a kept folder's outputs as about
    a file's; one gone from every node sends that folder's files through the file memo."""
    store = JobStore(tmp_path / "jobs.sqlite")
    urls = [n.api_url for n in stack if n.api_url]
    root = weather_logs(tmp_path / "logs", 2 * MIN_FILES)  # 2016/ and 2017/, MIN_FILES each
    spec = JobSpec("tr 0-9 a-j", run(devstack.add_spread, root, 1, urls), image_digest=image_id)
    first = cluster_run(stack, spec, memo=store)  # remembers its folders
    assert first.ok and not first.folders
    store.save_results("day1", first.files, memo_of=spec)  # as a recorded job's events do
    (root / "2018").mkdir()
    (root / "2018" / "new.log").write_text("2018-01-01T00:00:00Z,38.731946,-9.141685\n")
    grown = replace(spec, input=run(devstack.add_spread, root, 1, urls))

    rerun = cluster_run(stack, grown, memo=store)
    assert sorted(k.path for k in rerun.folders) == ["2016", "2017"]
    assert [(r.path, r.reused) for r in rerun.files] == [("2018/new.log", False)]
    assert (rerun.file_count, rerun.reused) == (2 * MIN_FILES + 1, 2 * MIN_FILES)
    assert rerun.output_cid == cluster_run(stack, grown).output_cid  # a full run's CID
    store.save_results("day2", rerun.files, memo_of=grown)

    lost = next(r for r in first.files if r.path.startswith("2016/"))
    assert lost.output_cid is not None
    forget_everywhere(stack, lost.output_cid)
    again = cluster_run(stack, grown, memo=store)
    assert [k.path for k in again.folders] == ["2017"]
    assert [r.path for r in again.files if not r.reused] == [lost.path]
    assert again.placement is not None and again.placement.locality == 1.0
    assert again.output_cid == rerun.output_cid


def test_a_wasm_module_runs_on_every_node_like_on_one(
    stack: list[devstack.NodeStatus], dataset: str, engine: docker.DockerClient
) -> None:
    wat = Path(__file__).parent.parent / "executor" / "wasm" / "grep_rain.wat"
    module = bytes(wasmtime.wat2wasm(wat.read_text()))

    async def add_module() -> str:
        async with KuboClient(str(stack[0].api_url)) as ipfs:
            return (await ipfs.add_bytes(module)).cid

    spec = JobSpec("wasm", dataset, image="", kind=WASM, program=run(add_module))
    on_cluster = cluster_run(stack, spec)
    assert len(on_cluster.files) == 12 and all(r.fuel > 0 for r in on_cluster.files)
    assert on_cluster.placement is not None and on_cluster.placement.locality == 1.0
    assert {r.node for r in on_cluster.files} == {"node0", "node1", "node2"}
    assert on_cluster.output_cid == local_run(stack, spec, engine).output_cid


def test_a_python_function_runs_on_every_node_like_on_one(
    stack: list[devstack.NodeStatus],
    dataset: str,
    engine: docker.DockerClient,
    tmp_path: Path,
) -> None:
    script = tmp_path / "count.py"
    script.write_text("def count(infile):\n    return b'%d\\n' % sum(1 for _ in infile)\n")
    bundle = make_bundle(tmp_path / "bundle", script, "count", None, pip_target(engine))

    async def add_bundle() -> str:
        async with KuboClient(str(stack[0].api_url)) as ipfs:
            added = await ipfs.add_paths([bundle], AddOptions())
        return next(a.cid for a in added if a.name == "bundle")

    image = images.resolve(engine, PYTHON_IMAGE)
    spec = JobSpec("python count.py:count", dataset, PYTHON_IMAGE, image, kind=PYTHON)
    spec = replace(spec, program=run(add_bundle))
    on_cluster = cluster_run(stack, spec)
    assert on_cluster.ok and {r.node for r in on_cluster.files} == {"node0", "node1", "node2"}
    assert {s.node for s in on_cluster.setup} == {"node0", "node1", "node2"}
    assert sum(s.built for s in on_cluster.setup) <= 1  # the nodes share this machine's cache
    assert on_cluster.output_cid == local_run(stack, spec, engine).output_cid
