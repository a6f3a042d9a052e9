"""The quote and --max-price on a real 3-node devstack (issue 12): the sample runs on the nodes
that hold it, priced with the lists they published; the job afterwards pays only for the rest;
a run whose bill reaches --max-price stops there, keeping what finished, and `job resume` goes on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from codsh import devstack
from tests.commands.test_quote_cli import SPIN, tree
from tests.conftest import run

CODSH = str(Path(sys.executable).with_name("codsh"))


def spread(stack: list[devstack.NodeStatus], root: Path, files: dict[str, bytes | None]) -> str:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data or b"")
    return run(devstack.add_spread, root, 1, [n.api_url for n in stack if n.api_url])


def codsh(stack: list[devstack.NodeStatus], *args: str) -> subprocess.CompletedProcess[str]:
    info = devstack.scheduler_info()
    assert info is not None
    env = {
        **os.environ,
        "CODSH_IPFS": str(stack[0].api_url),
        "CODSH_SCHEDULER": info["address"],
        "CODSH_TLS": str(devstack.tls_dir()),
    }
    env.pop("CODSH_API", None)
    return subprocess.run([CODSH, *args], env=env, capture_output=True, text=True, timeout=300)


def as_json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode in (0, 1), done.stderr
    return dict(json.loads(done.stdout.splitlines()[-1]))


def test_a_cluster_quote_is_priced_by_the_nodes_and_not_paid_twice(
    stack: list[devstack.NodeStatus], tmp_path: Path
) -> None:
    cid = spread(stack, tmp_path, tree(40))
    quote = as_json(codsh(stack, "job", "quote", "-e", "wc -c", "-c", cid, "--json"))
    assert quote["sampled"] == 12 and quote["sample_cost"] > 0  # priced with the nodes' lists
    sample = as_json(codsh(stack, "job", "describe", quote["sample_job"], "--json"))
    assert sample["bill"]["total"] == pytest.approx(quote["sample_cost"])
    job = as_json(codsh(stack, "job", "submit", "-e", "wc -c", "-c", cid, "--json"))
    assert job["reused"] == 12
    billed = as_json(codsh(stack, "job", "describe", job["job"], "--json"))["bill"]
    assert sum(use["files"] for use in billed["nodes"].values()) >= 28  # the unsampled files
    assert set(billed["nodes"]) <= {"node0", "node1", "node2"}
    refused = codsh(stack, "job", "quote", "-e", "wc -c", "-c", cid, "--replicas", "4")
    assert refused.returncode == 2 and "3" in refused.stderr, refused.stderr


def test_a_cluster_job_stops_at_its_max_price_and_resumes(
    stack: list[devstack.NodeStatus], tmp_path: Path
) -> None:
    cid = spread(stack, tmp_path, tree(40, spin=2))
    job = as_json(codsh(stack, "run", "-e", SPIN, "-c", cid, "--max-price", "0.00002", "--json"))
    assert "stopped at the price limit" in job["stopped"] and job["files"] < 40
    record = as_json(codsh(stack, "job", "describe", job["job"], "--json"))
    assert record["state"] == "partial" and record["bill"]["total"] >= 0.00002
    for _ in range(3):
        resumed = codsh(stack, "job", "resume", job["job"], "--json")
        if resumed.returncode == 0:
            break
        assert "stopped at the price limit" in resumed.stdout, resumed.stderr
    assert resumed.returncode == 0, resumed.stderr
