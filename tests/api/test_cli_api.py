"""The CLI as a client of the orchestrator: a user with only CODSH_API and a token (no kubo of
their own: CODSH_IPFS points at nothing) adds data, runs the Lisbon job, reads the result, and
follows their jobs; the CID is the one a run with a local kubo gives."""

from __future__ import annotations

import json
from pathlib import Path

from tests.api.conftest import Orchestrator
from tests.commands.cli import Tree, codsh, write_tree

LISBON = "sed -n '/38.7[2-4]....,-9.1[3-5]..../p'"
LOGS: Tree = {
    "2016/a.log": b"2016-01-01, 38.736946,-9.142685, 14.1\n2016-01-01, 40.0,-8.0, 11.0\n",
    "2017/b.log": b"2017-01-01, 38.730000,-9.140000, 15.0\n",
    "2017/c d.log": b"2017-01-02, 41.0,-8.6, 9.0\n",
}


def user_env(orchestrator: Orchestrator, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in orchestrator.env.items() if not k.startswith("CODSH_")}
    home = tmp_path / "user-home"
    home.mkdir()
    return env | {
        "CODSH_API": orchestrator.url,
        "CODSH_TOKEN": orchestrator.tokens["alice"],
        "CODSH_IPFS": "http://127.0.0.1:9",  # nothing listens: the user has no kubo
        "CODSH_HOME": str(home),
    }


def test_a_user_with_only_the_api_runs_the_lisbon_job(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    env = user_env(orchestrator, tmp_path)
    folder = write_tree(tmp_path / "logs", LOGS)
    added = codsh("add", str(folder), env=env)
    assert added.code == 0, added.err
    local_add = codsh("add", str(folder), env=orchestrator.env)
    assert added.cid == local_add.cid  # the canonical options, whoever adds

    ran = codsh("run", "-e", LISBON, "-c", added.cid, env=env)
    assert ran.code == 0, ran.err
    assert f"on {orchestrator.url}" in ran.err  # the summary says where it ran
    local = codsh("run", "-e", LISBON, "-c", added.cid, env=orchestrator.env)
    assert ran.cid == local.cid

    assert codsh("cat", f"{ran.cid}/2017/b.log", env=env).out == LOGS["2017/b.log"]
    listed = codsh("ls", ran.cid, env=env)
    assert listed.code == 0 and listed.out.decode().endswith("2017/\n")
    got = codsh("get", ran.cid, "-o", str(tmp_path / "out"), env=env)
    assert got.code == 0, got.err
    for name in LOGS:  # every file, as a local kubo has it
        expected = codsh("cat", f"{ran.cid}/{name}", env=orchestrator.env).out
        assert (tmp_path / "out" / name).read_bytes() == expected

    jobs = codsh("job", "list", "--json", env=env)
    assert jobs.code == 0, jobs.err
    mine = [json.loads(line) for line in jobs.lines]
    assert mine and all(job["owner"] == "alice" for job in mine)
    job_id = mine[0]["id"]
    described = codsh("job", "describe", job_id, "--json", env=env)
    assert json.loads(described.out)["output"] == ran.cid
    waited = codsh("job", "wait", job_id, env=env)
    assert (waited.code, waited.cid) == (0, ran.cid)
    logged = codsh("job", "logs", job_id, "--json", env=env)
    assert {json.loads(line)["path"] for line in logged.lines} == set(LOGS)


def test_failures_exit_1_and_bad_input_exit_2_through_the_api(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    env = user_env(orchestrator, tmp_path)
    source = codsh("add", str(write_tree(tmp_path / "in", {"a": b"a\n", "b": b"b\n"})), env=env)
    failed = codsh("run", "-e", "grep -q a", "--ok-exit", "0", "-c", source.cid, "--json", env=env)
    assert failed.code == 1, failed.err
    record = json.loads(failed.out)
    assert (record["files"], record["failed"]) == (2, 1)
    assert [f["path"] for f in record["failures"]] == ["b"]

    bad = codsh("run", "-e", "cat", "-c", "bafynotacid", env=env)
    assert bad.code == 2 and "error:" in bad.err
    refused = codsh("run", "-e", "cat", "-x", source.cid, "-c", source.cid, env=env)
    assert refused.code == 2 and "cannot be combined" in refused.err
    wrong = codsh("job", "list", env=env | {"CODSH_TOKEN": "codsh_wrong"})
    assert wrong.code == 2 and "no valid token" in wrong.err and "hint:" in wrong.err


def test_a_pipe_through_the_api_gives_the_cid_of_a_local_pipe(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    env = user_env(orchestrator, tmp_path)
    source = codsh("add", str(write_tree(tmp_path / "logs", LOGS)), env=env).cid
    stages = ["sed -n /38.7/p", "cut -d, -f3", "--concat", "sort -n | uniq -c"]
    remote = codsh("pipe", "-c", source, *stages, "--json", env=env)
    assert remote.code == 0, remote.err
    record = json.loads(remote.out)
    local = codsh("pipe", "-c", source, *stages, env=orchestrator.env)
    assert record["output"] == local.cid
    assert [stage["command"] for stage in record["stages"]] == [
        "sed -n /38.7/p | cut -d, -f3 --concat",
        "sort -n | uniq -c",
    ]
    described = json.loads(codsh("job", "describe", record["job"], "--json", env=env).out)
    assert described["mode"] == "pipeline" and described["owner"] == "alice"
    stage_job = codsh("job", "describe", record["stages"][0]["job"], "--json", env=env)
    assert stage_job.code == 0, stage_job.err  # the stages are the user's too
    bad = codsh("pipe", "-c", source, "--concat", env=env)
    assert bad.code == 2 and "--concat comes before any stage" in bad.err


def test_functions_and_bundles_through_the_api_give_the_local_cids(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    """-f packs the script here and adds the bundle through the orchestrator; -x reads it there."""
    env = user_env(orchestrator, tmp_path)
    source = codsh(
        "add", str(write_tree(tmp_path / "in", {"a": b"rain\n", "b": b"sun\n"})), env=env
    )
    script = tmp_path / "shout.py"
    script.write_text("def shout(f):\n    return f.read().upper()\n")
    remote = codsh("run", "-f", str(script), "--fn", "shout", "-c", source.cid, "--json", env=env)
    assert remote.code == 0, remote.err
    record = json.loads(remote.out)
    local = codsh("run", "-f", str(script), "--fn", "shout", "-c", source.cid, env=orchestrator.env)
    assert record["output"] == local.cid
    assert codsh("cat", f"{local.cid}/a", env=env).out == b"RAIN\n"
    bundle = record["spec"]  # the job as it ran: kind python, its bundle CID
    by_cid = codsh("run", "-x", bundle["program"], "-c", source.cid, env=env)
    assert (by_cid.code, by_cid.cid) == (0, local.cid)
    nothing = codsh("run", "-x", source.cid, "-c", source.cid, env=env)
    assert nothing.code == 2 and "error:" in nothing.err
