"""Stable names through the orchestrator (issue 14): a named job's output is published by the
orchestrator's kubo, GET /v1/names and `codsh name ls` (with CODSH_API) list it, `-c NAME` is
resolved there, and a name is its first publisher's."""

from __future__ import annotations

import json
from pathlib import Path

from tests.api.conftest import Orchestrator
from tests.api.test_cli_api import user_env
from tests.commands.cli import assert_usage_error, codsh, write_tree


def test_a_named_job_through_the_api_is_published_by_the_orchestrator(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    env = user_env(orchestrator, tmp_path)
    folder = write_tree(tmp_path / "d", {"a.csv": b"1,rain\n2,sun\n", "b.csv": b"3,rain\n"})
    cid = codsh("add", str(folder), env=env).cid
    ran = codsh("run", "-e", "grep rain", "-c", cid, "--name", "api-nightly", env=env)
    assert ran.code == 0, ran.err

    status, body = orchestrator.call("GET", "/v1/names", "bob")  # names are shared, as IPNS is
    assert status == 200, body
    entry = next(n for n in body["names"] if n["name"] == "api-nightly")
    assert entry["cid"] == ran.cid and entry["owner"] == "alice" and entry["key"].startswith("k51")
    listed = codsh("name", "ls", "--json", env=env)
    assert listed.code == 0, listed.err
    assert any(json.loads(line)["cid"] == ran.cid for line in listed.lines)

    status, body = orchestrator.call("GET", f"/v1/resolve?path=/ipns/{entry['key']}/a.csv")
    assert status == 200 and body["cid"] == f"{ran.cid}/a.csv", body
    counted = codsh("run", "-e", "wc -l", "-c", "api-nightly", "--concat", "--json", env=env)
    assert counted.code == 0, counted.err
    record = json.loads(counted.out)
    assert record["spec"]["input"] == ran.cid  # the job records the CID it ran on
    assert codsh("cat", record["output"], env=env).out.split() == [b"1", b"1"]

    bob = env | {"CODSH_TOKEN": orchestrator.tokens["bob"]}
    taken = codsh("run", "-e", "cat", "-c", cid, "--name", "api-nightly", env=bob)
    assert_usage_error(taken, "belongs to alice")
    status, body = orchestrator.call("GET", "/v1/resolve?path=nosuch")
    assert status == 400 and "nosuch" in body["error"], body
