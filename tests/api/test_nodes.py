"""GET /v1/nodes and `codsh node list`: this machine (the orchestrator fixture, no scheduler),
and the 3-node devstack's cluster through its orchestrator and directly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from codsh import devstack
from codsh.api.nodes import THIS_MACHINE
from codsh.ipfs.client import KuboClient
from codsh.kubo_daemon import KuboProcess
from tests.api.conftest import Orchestrator
from tests.commands.cli import assert_usage_error, codsh
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
    assert header.split() == ["NAME", "HEALTH", "SLOTS", "PEER", "LABELS"]
    assert line.startswith(THIS_MACHINE) and "healthy" in line and peer_of(kubo.api_url) in line
    answer = json.loads(codsh("node", "list", "--json", env=env).out)
    assert [n["name"] for n in answer["nodes"]] == [THIS_MACHINE]


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
    answer = json.loads(codsh("node", "list", "--json", env=via_api).out)
    nodes = answer["nodes"]
    assert [n["name"] for n in nodes] == ["node0", "node1", "node2"]
    assert all(n["healthy"] and n["error"] == "" and n["peer"] for n in nodes)
    assert [n["labels"] for n in nodes] == [{"devstack": f"node{i}"} for i in range(3)]
    assert len({n["peer"] for n in nodes}) == 3
    table = codsh("node", "list", env=via_api)
    assert table.code == 0, table.err
    assert sum("healthy" in line and "devstack=node" in line for line in table.lines) == 3
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
