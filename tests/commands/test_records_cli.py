"""`codsh job list` / `describe` after real jobs (real kubo and Docker), each with its own data dir."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import time
from pathlib import Path

from tests.commands.cli import add, assert_usage_error, codsh, write_tree


def test_jobs_are_recorded_listed_and_described(env: dict[str, str], tmp_path: Path) -> None:
    env = {**env, "CODSH_HOME": str(tmp_path / "home")}  # an empty job history of its own
    source = add(env, write_tree(tmp_path / "in", {"a.txt": b"rain\n", "b.txt": b"sun\n"}))
    ok = codsh("run", "-e", "cat", "-c", source, "--json", env=env)
    partial = codsh("run", "-e", "grep rain", "--ok-exit", "0", "-c", source, "--json", env=env)
    assert (ok.code, partial.code) == (0, 1)
    ok_job, partial_job = json.loads(ok.out)["job"], json.loads(partial.out)["job"]

    listed = [json.loads(line) for line in codsh("job", "list", "--json", env=env).lines]
    assert [(r["id"], r["state"]) for r in listed] == [
        (partial_job, "partial"),
        (ok_job, "succeeded"),
    ]
    assert listed[1]["output"] == json.loads(ok.out)["output"]
    assert listed[0]["failed"] == 1 and listed[0]["command"] == "grep rain"

    table = codsh("job", "list", env=env).out.decode()
    assert ok_job in table and json.loads(ok.out)["output"] in table

    described = codsh("job", "describe", partial_job[:6], env=env)
    assert described.code == 0
    text = described.out.decode()
    assert "state:     partial" in text and json.loads(partial.out)["manifest"] in text

    as_json = json.loads(codsh("job", "describe", partial_job, "--json", env=env).out)
    assert as_json["files_recorded"] == 2
    assert as_json["failures"] == [{"path": "b.txt", "node": "", "error": "exited with code 1"}]
    assert "failed:    b.txt: exited with code 1" in text

    waited = json.loads(codsh("job", "wait", ok_job, "--json", env=env).out)
    assert waited["state"] == "succeeded" and waited["output"] == json.loads(ok.out)["output"]

    assert_usage_error(codsh("job", "describe", "zzzz", env=env), "no job")


def test_job_logs_shows_each_files_exit_code_and_stderr(
    env: dict[str, str], tmp_path: Path
) -> None:
    env = {**env, "CODSH_HOME": str(tmp_path / "home")}
    source = add(env, write_tree(tmp_path / "in", {"ok.txt": b"x\n", "bad.txt": b"y\n"}))
    command = 'if grep -q y; then echo "no good: $(id -u)" >&2; exit 3; fi'
    job = json.loads(codsh("run", "-e", command, "-c", source, "--json", env=env).out)["job"]
    logs = codsh("job", "logs", job, env=env).out.decode()
    assert "== bad.txt: exit 3" in logs and "no good: 65534" in logs
    assert "== ok.txt: exit 0" in logs
    entries = [json.loads(line) for line in codsh("job", "logs", job, "--json", env=env).lines]
    assert {e["path"]: e["exit_code"] for e in entries} == {"bad.txt": 3, "ok.txt": 0}
    one = codsh("job", "logs", job, "--file", "bad.txt", env=env).out.decode()
    assert "ok.txt" not in one and "no good: 65534" in one
    assert_usage_error(codsh("job", "logs", job, "--file", "nope", env=env), "nope")


def test_detach_wait_and_cancel(env: dict[str, str], tmp_path: Path) -> None:
    env = {**env, "CODSH_HOME": str(tmp_path / "home")}
    source = add(env, write_tree(tmp_path / "in", {"a.txt": b"a\n", "b.txt": b"b\n"}))

    detached = codsh("run", "-e", "sleep 1; cat", "-c", source, "--detach", env=env)
    assert detached.code == 0, detached.err
    job = detached.out.decode().strip()
    assert len(job) == 12 and detached.seconds < 10  # returned at once, with the job ID
    waited = codsh("job", "wait", job, env=env)
    assert waited.code == 0 and waited.cid == source  # `cat` gives back its input

    endless = (
        codsh("run", "-e", "sleep 600", "-c", source, "--detach", env=env).out.decode().strip()
    )
    time.sleep(2)
    cancelled = codsh("job", "cancel", endless, env=env)
    assert cancelled.code == 0 and "cancelled" in cancelled.err
    assert codsh("job", "wait", endless, env=env).code == 2
    described = json.loads(codsh("job", "describe", endless, "--json", env=env).out)
    assert described["state"] == "cancelled"
    assert_usage_error(codsh("job", "cancel", endless, env=env), "not running")


def test_resume_after_the_driver_is_killed(env: dict[str, str], tmp_path: Path) -> None:
    env = {**env, "CODSH_HOME": str(tmp_path / "home")}
    tree = {f"f{i}.txt": f"line {i}\n".encode() for i in range(6)}
    source = add(env, write_tree(tmp_path / "in", tree))
    # --no-memo: the undisturbed run's results must not let the detached run skip its files
    slow = ("run", "-e", "sleep 1; sed s/line/LINE/", "-c", source, "--slots", "1", "--no-memo")
    undisturbed = codsh(*slow, env=env).cid

    job = codsh(*slow, "--detach", env=env).out.decode().strip()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill it once some files are recorded, not all
        recorded = sqlite3.connect(tmp_path / "home" / "jobs.sqlite").execute(
            "SELECT COUNT(*) FROM job_files WHERE job_id = ?", [job]
        )
        if recorded.fetchone()[0] >= 2:
            break
        time.sleep(0.2)
    pid = json.loads(codsh("job", "describe", job, "--json", env=env).out)["pid"]
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    assert (
        json.loads(codsh("job", "describe", job, "--json", env=env).out)["state"] == "interrupted"
    )

    resumed = codsh("job", "resume", job, env=env)
    assert resumed.code == 0, resumed.err
    done_before = int(re.search(r"(\d+) files already done", resumed.err).group(1))  # type: ignore[union-attr]
    assert 2 <= done_before < 6  # those were not run again
    assert resumed.cid == undisturbed
    assert json.loads(codsh("job", "describe", job, "--json", env=env).out)["state"] == "succeeded"
    assert_usage_error(codsh("job", "resume", job, env=env), "already succeeded")
