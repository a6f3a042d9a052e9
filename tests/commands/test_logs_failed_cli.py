"""`codsh job logs ID --failed` (issue 14, the first five minutes): a failure summary points to
it, and it shows only the files that failed, with their outcome and stderr excerpt."""

from __future__ import annotations

import re
from pathlib import Path

from tests.commands.cli import add, codsh


def test_failure_summary_points_to_logs_failed_which_shows_only_failures(
    env: dict[str, str], tmp_path: Path
) -> None:
    tree = {"a.txt": b"rain\n", "b.txt": b"sun\n", "c.txt": b"boom\n"}
    cid = add(env, tmp_path / "d", tree)
    command = (
        'x=$(cat); case "$x" in boom) echo broken input >&2; exit 3;; esac; echo "$x" | grep rain'
    )
    ran = codsh("run", "-e", command, "-c", cid, env=env)
    assert ran.code == 1, ran.err
    job = re.search(r"\| job (\w+) \|", ran.err)
    assert job, ran.err
    assert f"`codsh job logs {job[1]} --failed`" in ran.err
    assert "codsh cat" not in ran.err  # not a raw manifest CID to read

    logs = codsh("job", "logs", job[1], "--failed", env=env)
    assert logs.code == 0, logs.err
    text = logs.out.decode()
    assert "== c.txt: exit 3 (exited)" in text and "broken input" in text
    assert "a.txt" not in text and "b.txt" not in text  # ok, and no match: not failures
    everything = codsh("job", "logs", job[1], env=env).out.decode()
    assert "== b.txt: exit 1 (no match)" in everything and "== a.txt: exit 0 (ok)" in everything


def test_logs_failed_of_a_job_without_failures_says_so(env: dict[str, str], tmp_path: Path) -> None:
    cid = add(env, tmp_path / "d", {"a.txt": b"x\n"})
    ran = codsh("run", "-e", "cat", "-c", cid, env=env)
    assert ran.code == 0, ran.err
    job = re.search(r"\| job (\w+) \|", ran.err)
    assert job, ran.err
    logs = codsh("job", "logs", job[1], "--failed", env=env)
    assert logs.code == 0 and logs.out == b"" and "no file failed" in logs.err
