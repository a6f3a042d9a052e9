"""The bill on a real 3-node devstack (issue 12): every replica's run is metered and priced with
the list its node published when it joined; `job describe --json` shows it per node and in total."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codsh import devstack
from codsh.core.bill import PriceList
from tests.conftest import run

CODSH = str(Path(sys.executable).with_name("codsh"))


@pytest.fixture(scope="module")
def logs(stack: list[devstack.NodeStatus], tmp_path_factory: pytest.TempPathFactory) -> str:
    """Three logs of 200 kB, each stored on one node only."""
    root = tmp_path_factory.mktemp("billed")
    for index in range(3):
        (root / f"{index}.log").write_bytes(bytes([97 + index]) * 200_000)
    return run(devstack.add_spread, root, 1, [n.api_url for n in stack if n.api_url])


def codsh(*args: str, stack: list[devstack.NodeStatus]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CODSH_IPFS": str(stack[0].api_url)}
    return subprocess.run([CODSH, *args], env=env, capture_output=True, text=True, timeout=120)


def test_every_replica_is_billed_at_its_nodes_list(
    stack: list[devstack.NodeStatus], logs: str, image_id: str
) -> None:
    info = devstack.scheduler_info()
    assert info is not None
    where = ["--scheduler", info["address"], "--tls", str(devstack.tls_dir())]
    job = ["run", "-e", "md5sum", "-c", logs, "--replicas", "3", "--name", "billed", *where]
    ran = codsh(*job, stack=stack)
    assert ran.returncode == 0, ran.stderr
    described = codsh("job", "describe", "billed", "--json", stack=stack)
    record = json.loads(described.stdout)
    bill = record["bill"]
    assert sorted(bill["nodes"]) == ["node0", "node1", "node2"]
    runs = {node: use["files"] for node, use in bill["nodes"].items()}
    exact = runs == dict.fromkeys(runs, 3)  # every node ran every file once
    if not exact:  # a shard lost under load ran again on another node: it ran, it is paid
        assert record["placement"]["rescheduled"] > 0, runs
    for node, use in bill["nodes"].items():
        if exact:
            assert use["bytes_read"] == 200_000 and use["bytes_fetched"] == 400_000, node
            assert use["bytes_written"] == 3 * len("0" * 32 + "  -\n")
        assert use["cpu_seconds"] > 0 and use["peak_memory"] > 0 and use["container_starts"] >= 1
        assert use["cost"] == pytest.approx(PriceList().cost(use), rel=1e-4)  # devstack: defaults
    assert bill["total"] == pytest.approx(sum(u["cost"] for u in bill["nodes"].values()))
    manifest = json.loads(codsh("cat", record["manifest"], stack=stack).stdout)
    per_node: dict[str, int] = {}
    for shard in manifest["shards"]:  # every shard's run says what it used, on which node
        per_node[shard["node"]] = per_node.get(shard["node"], 0) + shard["files"]
        assert shard["seconds"] > 0 and shard["cpu_seconds"] > 0
    assert per_node == runs
    assert 0.5 * bill["total"] < bill["replication"] < bill["total"]  # two runs of three
    text = codsh("job", "describe", "billed", stack=stack).stdout
    assert "bill:" in text and f"node1: {runs['node1']} runs" in text, text


def test_a_malformed_price_list_is_a_usage_error(tmp_path: Path) -> None:
    joined = subprocess.run(
        [CODSH, "node", "join", "tls://127.0.0.1:1", "--ipfs", "/ip4/127.0.0.1/tcp/1"]
        + ["--tls", str(tmp_path), "--price", "cpu-s=cheap"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert joined.returncode == 2
    assert "--price" in joined.stderr and "cpu-s='cheap' is not a number" in joined.stderr
