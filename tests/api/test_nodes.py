"""GET /v1/nodes and `codsh node list`: this machine (the orchestrator fixture, no scheduler),
and the 3-node devstack's cluster through its orchestrator and directly."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from codsh import devstack
from codsh.api.nodes import THIS_MACHINE, Node, tallied
from codsh.core.model import FileResult, Outcome
from codsh.core.spec import JobSpec
from codsh.ipfs.client import KuboClient
from codsh.jobs.store import JobStore
from codsh.kubo_daemon import KuboProcess
from tests.api.conftest import Orchestrator
from tests.commands.cli import add, assert_usage_error, codsh, write_tree
from tests.conftest import run


def peer_of(api_url: str) -> str:
    async def ask() -> str:
        async with KuboClient(api_url) as ipfs:
            return str((await ipfs.id())["ID"])

    return run(ask)


def api_env(orchestrator: Orchestrator, user: str = "alice") -> dict[str, str]:
    return {
        **orchestrator.env,
        "CODSH_API": orchestrator.url,
        "CODSH_TOKEN": orchestrator.tokens[user],
    }


def test_this_machine_is_the_one_node(orchestrator: Orchestrator, kubo: KuboProcess) -> None:
    status, answer = orchestrator.call("GET", "/v1/nodes")
    assert status == 200, answer
    assert answer["runs_on"] == "this node"
    [node] = answer["nodes"]
    assert node["name"] == THIS_MACHINE and node["healthy"] and node["error"] == ""
    assert node["peer"] == peer_of(kubo.api_url) and node["slots"] >= 1
    status, again = orchestrator.call("GET", "/v1/nodes", "bob")
    assert status == 200 and again["nodes"] == answer["nodes"]  # the cached answer
    assert 0 <= again["age"] <= 5
    assert orchestrator.call("GET", "/v1/nodes", None)[0] == 401
    assert "/v1/nodes" in orchestrator.call("GET", "/openapi.json")[1]["paths"]


def test_node_list_through_the_api(orchestrator: Orchestrator, kubo: KuboProcess) -> None:
    env = api_env(orchestrator)
    result = codsh("node", "list", env=env)
    assert result.code == 0, result.err
    header, line = result.lines
    assert header.split() == [
        *("NAME", "HEALTH", "SLOTS", "FILES", "OK", "FAILED"),
        *("AGREED", "OUTVOTED", "DISPUTED", "PEER", "LABELS"),
    ]
    assert line.startswith(THIS_MACHINE) and "healthy" in line and peer_of(kubo.api_url) in line
    answer = json.loads(codsh("node", "list", "--json", env=env).out)
    assert [n["name"] for n in answer["nodes"]] == [THIS_MACHINE]


def test_this_machine_tallies_the_files_it_ran(orchestrator: Orchestrator, tmp_path: Path) -> None:
    def tally() -> dict[str, int]:  # read at each request (only the nodes' answer is cached)
        [node] = orchestrator.call("GET", "/v1/nodes")[1]["nodes"]
        return dict(node["tally"])

    before = tally()
    tree = {"a.txt": b"rain\n", "b.txt": b"sun\n", "c.txt": b"rain again\n"}
    source = add(orchestrator.env, tmp_path / "in", tree)
    spec = {"command": "grep rain", "input": source, "ok_exit": [0]}  # grep's 1 fails
    for _ in range(2):  # the rerun is the memo's: nothing runs again
        status, job = orchestrator.call("POST", "/v1/jobs", body=spec)
        assert status == 201, job
        assert orchestrator.wait(job["id"])["state"] == "partial"  # grep exits 1 on b.txt
        after = tally()
        ran = {key: after[key] - before[key] for key in after}
        assert ran == {"files": 3, "ok": 2, "failed": 1, "agreed": 0, "outvoted": 0, "disputed": 0}
    table = codsh("node", "list", env=api_env(orchestrator)).lines[1].split()
    assert table[4:7] == [  # "this machine" is two words
        str(after["files"]),
        str(after["ok"]),
        str(after["failed"]),
    ]


def test_the_store_tallies_per_node(tmp_path: Path) -> None:
    """From the per-file records: memo reuses are not runs; a record without the newer fields
    (written by an older codsh) counts as a run."""
    with JobStore(tmp_path / "jobs.sqlite") as store:
        spec = JobSpec("cat", "bafkqaaa")
        job = store.create(spec, "tls://scheduler:1").id
        ok = FileResult("a", "bafkqaaa", 1, node="node0")
        failed = FileResult(
            "b", "bafkqaaa", 1, node="node1", error="exit 1", outcome=Outcome.EXITED
        )
        reused = FileResult("c", "bafkqaaa", 1, node="node1", reused=True)
        store.save_results(job, [ok, failed, reused, FileResult("d", "bafkqaaa", 1)])
        assert store.node_tallies() == {"node0": (1, 0), "node1": (1, 1), "": (1, 0)}
    nodes = [Node("node0", True), Node("node2", True)]
    tallies = {"node0": (4, 1)}
    assert [n.tally for n in tallied(nodes, tallies)] == [
        {"files": 4, "ok": 3, "failed": 1, "agreed": 0, "outvoted": 0, "disputed": 0},
        {"files": 0, "ok": 0, "failed": 0, "agreed": 0, "outvoted": 0, "disputed": 0},
    ]
    assert tallied([Node(THIS_MACHINE, True)], {"": (2, 0)})[0].tally == {
        "files": 2,
        "ok": 2,
        "failed": 0,
        "agreed": 0,
        "outvoted": 0,
        "disputed": 0,
    }


def test_node_list_without_api_or_scheduler_says_what_to_set(orchestrator: Orchestrator) -> None:
    env = {k: v for k, v in orchestrator.env.items() if k not in ("CODSH_API", "CODSH_SCHEDULER")}
    assert_usage_error(codsh("node", "list", env=env), "CODSH_API", "--scheduler")
    env["CODSH_TLS"] = ""
    result = codsh("node", "list", "--scheduler", "tls://127.0.0.1:1", env=env)
    assert_usage_error(result, "certificates", "--tls")


@pytest.mark.usefixtures("stack")
def test_the_cluster_nodes_with_their_labels(tmp_path: Path) -> None:
    info = devstack.orchestrator_info()
    assert info is not None
    env = {k: v for k, v in os.environ.items() if k not in devstack.CLIENT_VARIABLES}
    via_api = {**env, "CODSH_API": info["api"], "CODSH_TOKEN": devstack.dev_token()}
    via_api["CODSH_CA"] = str(devstack.tls_dir() / "ca.pem")  # https from the devstack's CA
    answer = json.loads(codsh("node", "list", "--json", env=via_api).out)
    nodes = answer["nodes"]
    assert [n["name"] for n in nodes] == ["node0", "node1", "node2"]
    assert all(n["healthy"] and n["error"] == "" and n["peer"] for n in nodes)
    assert [n["labels"] for n in nodes] == [{"devstack": f"node{i}"} for i in range(3)]
    assert len({n["peer"] for n in nodes}) == 3
    table = codsh("node", "list", env=via_api)
    assert table.code == 0, table.err
    assert sum("healthy" in line and "devstack=node" in line for line in table.lines) == 3
    zero = {"files": 0, "ok": 0, "failed": 0, "agreed": 0, "outvoted": 0, "disputed": 0}
    assert all(n["tally"] == zero for n in nodes)  # a new stack

    tree = {f"f{i}.log": f"line {i}\n".encode() for i in range(6)}
    stack = [n.api_url for n in devstack.status() if n.api_url]
    root = run(devstack.add_spread, write_tree(tmp_path / "in", tree), 1, stack)
    ran = codsh("run", "-e", "cat", "-c", root, "--json", env=via_api)
    assert ran.code == 0, ran.err
    job = json.loads(ran.out)["id"]
    with JobStore(devstack.orchestrator_home() / "jobs.sqlite") as store:
        where = Counter(result.node for result in store.results(job).values())
    tallies = {
        n["name"]: n["tally"]["files"]
        for n in json.loads(codsh("node", "list", "--json", env=via_api).out)["nodes"]
    }
    assert tallies == {f"node{i}": where[f"node{i}"] for i in range(3)} and sum(where.values()) == 6
    scheduler = devstack.scheduler_info()
    assert scheduler is not None
    direct = codsh(
        "node",
        "list",
        "--json",
        "--scheduler",
        scheduler["address"],
        "--tls",
        str(devstack.tls_dir()),
        env=env,
    )
    assert direct.code == 0, direct.err
    assert [n["peer"] for n in json.loads(direct.out)["nodes"]] == [n["peer"] for n in nodes]
