"""`codsh job resume` through the real CLI (real kubo and Docker), each test with its own data dir:
a refused resume changes nothing, a resumed job runs the way it was submitted, and it runs again
the files whose infrastructure failed while it keeps the command's own failures."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import docker

from codsh.core.model import FileResult
from codsh.core.spec import JobSpec
from codsh.executor.container import job_containers
from codsh.jobs.store import JobStore
from codsh.kubo_daemon import KuboProcess
from tests.commands.cli import Tree, add, assert_usage_error, codsh, write_tree
from tests.conftest import ipfs_cli

SOME_CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"


def described(job: str, env: dict[str, str]) -> dict[str, Any]:
    result = codsh("job", "describe", job, "--json", env=env)
    assert result.code == 0, result.err
    record: dict[str, Any] = json.loads(result.out)
    return record


def test_a_refused_resume_leaves_the_record_as_it_was(env: dict[str, str], tmp_path: Path) -> None:
    """A job that ran on a cluster, resumed without --tls, exits 2 with a hint about --tls and
    its record (state, pid, error, what it had done) is exactly as before."""
    home = tmp_path / "home"
    env = {**env, "CODSH_HOME": str(home)}
    env.pop("CODSH_TLS", None)
    with JobStore(home / "jobs.sqlite") as store:
        job = store.create(JobSpec("cat", SOME_CID), "tls://127.0.0.1:9").id
        store.save_results(job, [FileResult("a.txt", SOME_CID, 3, 0, SOME_CID)])
        store.fail(job, "the scheduler went away")
    before = described(job, env)
    assert (before["state"], before["error"], before["files_recorded"]) == (
        "error",
        "the scheduler went away",
        1,
    )

    refused = codsh("job", "resume", job, env=env)
    assert_usage_error(refused, "--tls", "cluster")
    assert described(job, env) == before  # state, pid, error, updated: all untouched


def test_a_resumed_job_keeps_its_shard_size_and_no_memo(
    env: dict[str, str], kubo: KuboProcess, tmp_path: Path
) -> None:
    """Submitted with --shard-size 1 --no-memo --slots 1 and killed mid-job, the job resumes with
    that target: recorded in its spec, and used: twins (identical files) each run (none reused),
    and every file ran in a container of its own (each output names a different container: its
    cgroup; the hostname is the same in every container, so that replicas agree)."""
    env = {**env, "CODSH_HOME": str(tmp_path / "home")}
    twins: Tree = {"a1.txt": b"a\n", "a2.txt": b"a\n", "b1.txt": b"b\n", "b2.txt": b"b\n"}
    source = add(env, write_tree(tmp_path / "in", twins))
    target = ("--shard-size", "1", "--no-memo", "--slots", "1")
    command = ("run", "-e", "sleep 1; cat; tail -n 1 /proc/self/cgroup", "-c", source, *target)

    job = codsh(*command, "--detach", env=env).out.decode().strip()
    pid = described(job, env)["pid"]
    deadline = time.monotonic() + 60
    recorded = 0
    while recorded < 1 and time.monotonic() < deadline:  # kill it once a file is recorded
        time.sleep(0.1)
        with sqlite3.connect(tmp_path / "home" / "jobs.sqlite") as db:
            query = db.execute("SELECT COUNT(*) FROM job_files WHERE job_id = ?", [job])
            recorded = query.fetchone()[0]
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)
    assert described(job, env)["state"] == "interrupted"

    resumed = codsh("job", "resume", job, "--json", env=env)
    assert resumed.code == 0, resumed.err
    done = int(re.search(r"(\d+) files already done", resumed.err).group(1))  # type: ignore[union-attr]
    assert 1 <= done < len(twins)  # killed mid-job
    ran_with = json.loads(resumed.out)["spec"].get("target", {})
    expected = {"shard_size": 1, "memo": False, "slots": 1}
    assert {k: ran_with.get(k) for k in expected} == expected, ran_with
    after = described(job, env)
    assert after["state"] == "succeeded"
    assert {k: after["spec"]["target"][k] for k in expected} == expected

    entries = [json.loads(line) for line in codsh("job", "logs", job, "--json", env=env).lines]
    assert sorted(e["path"] for e in entries) == sorted(twins)
    assert [e["path"] for e in entries if e["reused"]] == []  # --no-memo: every twin ran
    output = json.loads(resumed.out)["output"]
    hosts = {ipfs_cli(kubo, "cat", f"/ipfs/{output}/{path}").split(b"\n")[1] for path in twins}
    assert len(hosts) == len(twins)  # shard size 1: a container per file


# Normal files sleep (so a container can be killed in the middle of one); `bad` fails at once.
SLEEPY = 'read -r line; case "$line" in bad*) exit 3;; esac; sleep 4; echo "$line" | tr a-z A-Z'


def kill_one_sleeping(engine: docker.DockerClient, job: str) -> str:
    """Kill the first container of `job` seen running a normal file's `sleep` (`bad` does not
    sleep); its ID."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for entry in job_containers(engine, job, every=False):
            with contextlib.suppress(docker.errors.APIError):  # it may end in between
                found = engine.containers.get(entry["Id"])
                if any("sleep" in " ".join(p) for p in found.top()["Processes"] or []):
                    found.kill()
                    return str(found.id)
        time.sleep(0.05)
    raise AssertionError(f"no container of job {job} was seen in a file's sleep")


def logs(job: str, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {
        entry["path"]: entry
        for entry in map(json.loads, codsh("job", "logs", job, "--json", env=env).lines)
    }


def test_a_resume_reruns_the_file_whose_container_was_lost_and_keeps_the_commands_failure(
    env: dict[str, str], engine: docker.DockerClient, tmp_path: Path
) -> None:
    """Issue 16, finding 10. A job whose container is killed under one file ends partial with
    that file's container lost, beside a file whose command failed (exit 3). Resumed, it runs
    the lost file again (and only it: `bad` keeps its recorded failure) and ends with the CID an
    undisturbed run gives. Before, the lost file counted as done and nothing ran again."""
    env = {**env, "CODSH_HOME": str(tmp_path / "home")}
    tree: Tree = {"alpha": b"alpha\n", "beta": b"beta\n", "gamma": b"gamma\n", "bad": b"bad\n"}
    source = add(env, write_tree(tmp_path / "in", tree))
    command = ("run", "-e", SLEEPY, "-c", source, "--shard-size", "1", "--no-memo")

    undisturbed = codsh(*command, "--slots", "4", env=env)
    assert undisturbed.code == 1, undisturbed.err  # `bad` exits 3
    expected = undisturbed.cid

    job = codsh(*command, "--slots", "2", "--detach", env=env).out.decode().strip()
    kill_one_sleeping(engine, job)
    disturbed = codsh("job", "wait", job, env=env)
    assert disturbed.code == 1, disturbed.err
    before = logs(job, env)
    lost = [path for path, entry in before.items() if entry["outcome"] == "container lost"]
    assert len(lost) == 1 and lost[0] != "bad", before
    assert before["bad"]["outcome"] == "exited"

    resumed = codsh("job", "resume", job, env=env)
    assert resumed.code == 1, resumed.err  # `bad` still failed: its recorded failure is kept
    assert "3 files already done are not run again" in resumed.err, resumed.err
    assert resumed.cid == expected
    after = logs(job, env)
    assert after[lost[0]]["outcome"] == "ok"
    assert after["bad"] == before["bad"]  # not run again
    assert {p: after[p] for p in tree if p != lost[0]} == {
        p: before[p] for p in tree if p != lost[0]
    }
    assert described(job, env)["output"] == expected
