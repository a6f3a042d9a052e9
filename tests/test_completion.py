"""Completion without a shell: the checked-in scripts, and the job-ID and CID candidates that the
click tree offers from a job history under a temporary CODSH_HOME (no daemon involved)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.shell_completion import ShellComplete

from codsh.cli import cli
from codsh.completion import SHELLS, script
from codsh.config import jobs_db
from codsh.core.model import FileResult
from codsh.core.spec import JobSpec
from codsh.jobs.finish import JobResult
from codsh.jobs.store import JobStore

ROOT = Path(__file__).resolve().parent.parent
IN_1 = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
IN_2 = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
OUT_1 = "bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby"

JOB_ID_COMMANDS = [
    ["job", "describe"],
    ["job", "logs"],
    ["job", "wait"],
    ["job", "cancel"],
    ["job", "resume"],
]
CID_COMMANDS = [["job", "submit", "-c"], ["run", "-c"], ["ls"], ["cat"], ["get"]]


def complete(args: list[str], incomplete: str = "") -> list[tuple[str, str | None]]:
    """What click offers after `codsh ARGS INCOMPLETE`: (value, help) pairs."""
    items = ShellComplete(cli, {}, "codsh", "_CODSH_COMPLETE").get_completions(args, incomplete)
    return [(item.value, item.help) for item in items]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CODSH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def history(home: Path) -> list[str]:
    """Three jobs, oldest first: one succeeded (IN_1 -> OUT_1), then two still running, on IN_2
    and again on IN_1 (a CID seen twice). Yields their IDs."""
    store = JobStore(jobs_db())
    first = store.create(JobSpec("grep rain", IN_1), "this node")
    done = FileResult("a.txt", IN_1, 5, exit_code=0, output_cid=OUT_1)
    spec = JobSpec("grep rain", IN_1)
    store.finish(first.id, JobResult(OUT_1, "bafkman", [done], 0.5, spec))
    time.sleep(0.01)
    second = store.create(JobSpec("sed -n 1p", IN_2), "this node")
    time.sleep(0.01)
    third = store.create(JobSpec("wc -l", IN_1), "this node")
    store.close()
    return [first.id, second.id, third.id]


def test_the_checked_in_scripts_are_what_click_generates() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "completions.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    for shell in SHELLS:
        assert (ROOT / "completions" / f"codsh.{shell}").read_text() == script(shell, cli)
    assert "_CODSH_COMPLETE=bash_complete" in script("bash", cli)
    with pytest.raises(ValueError):
        script("powershell", cli)


@pytest.mark.parametrize("args", JOB_ID_COMMANDS, ids=" ".join)
def test_job_ids_complete_newest_first_with_state_and_command(
    args: list[str], history: list[str]
) -> None:
    first, second, third = history
    assert complete(args) == [
        (third, "running: wc -l"),
        (second, "running: sed -n 1p"),
        (first, "succeeded: grep rain"),
    ]
    assert complete(args, second[:5]) == [(second, "running: sed -n 1p")]
    assert complete(args, "zz") == []


@pytest.mark.parametrize("args", CID_COMMANDS, ids=" ".join)
def test_cids_complete_from_inputs_and_outputs_newest_first_once_each(
    args: list[str], history: list[str]
) -> None:
    first, second, third = history
    assert complete(args) == [
        (IN_1, f"input of job {third}: wc -l"),
        (IN_2, f"input of job {second}: sed -n 1p"),
        (OUT_1, f"output of job {first}: grep rain"),
    ]
    assert [value for value, _ in complete(args, "bafybeic")] == [OUT_1]


def test_a_running_job_whose_process_is_gone_shows_as_interrupted(history: list[str]) -> None:
    with sqlite3.connect(jobs_db()) as db:
        db.execute("UPDATE jobs SET pid = ? WHERE id = ?", [2**22 + 12345, history[2]])
    assert complete(["job", "describe"], history[2]) == [(history[2], "interrupted: wc -l")]


def test_long_commands_are_cut_in_the_help(home: Path) -> None:
    store = JobStore(jobs_db())
    job = store.create(JobSpec("sed -n '/38.7[2-4]....,-9.1[3-5]..../p'  " * 5, IN_1), "here")
    store.close()
    ((value, help_text),) = complete(["job", "wait"])
    assert value == job.id and help_text is not None
    assert (
        len(help_text) == 60 and help_text.startswith("running: sed -n") and "  " not in help_text
    )


def test_no_history_gives_no_candidates_and_creates_nothing(home: Path) -> None:
    assert complete(["job", "describe"]) == []
    assert complete(["run", "-c"]) == []
    assert not home.exists()


def test_a_locked_or_broken_history_gives_no_candidates_quickly(home: Path) -> None:
    JobStore(jobs_db()).close()
    holder = sqlite3.connect(jobs_db())
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        assert complete(["job", "describe"]) == []
        assert time.monotonic() - started < 2
    finally:
        holder.close()
    jobs_db().write_bytes(b"not a database" * 100)
    assert complete(["cat"]) == []
