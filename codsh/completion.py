"""Shell completion: the scripts click generates, and completers for job IDs and CIDs.

The completers run on every TAB, so they read the local job history only: never kubo, Docker or
the scheduler. They open the database read-only (an absent history must not create the data dir)
with a short busy timeout, and any failure gives no candidates: a completion must never print.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING

import click
from click.shell_completion import CompletionItem, get_completion_class

from codsh.config import jobs_db
from codsh.jobs.states import INTERRUPTED, RUNNING

if TYPE_CHECKING:
    import sqlite3

SHELLS = ("bash", "zsh", "fish")
PROG_NAME = "codsh"
COMPLETE_VAR = "_CODSH_COMPLETE"
LIMIT = 100  # how many recent jobs feed the candidates
HELP_WIDTH = 60


def script(shell: str, command: click.Command) -> str:
    """The completion script click writes for `shell` (what `_CODSH_COMPLETE={shell}_source` prints).

    Formatted from click's template directly: BashComplete.source() would also probe the local
    bash's version, which only prints a warning, so the text is the same on every machine."""
    shell_class = get_completion_class(shell)
    if shell_class is None or shell not in SHELLS:
        raise ValueError(f"no completion for shell {shell!r}")
    complete = shell_class(command, {}, PROG_NAME, COMPLETE_VAR)
    return complete.source_template % complete.source_vars()


@contextmanager
def _history() -> Iterator[sqlite3.Connection]:
    """The job records, read-only: a missing file fails instead of being created. SQLite is
    loaded here, when a shell completes a job ID, not by every command that offers it."""
    import sqlite3

    uri = jobs_db().absolute().as_uri() + "?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=0.2)) as db:
        yield db


def _recent_jobs() -> list[tuple[str, str, str, str, str | None]]:
    """(id, state, command, input, output) of the newest jobs, newest first; [] when unreadable."""
    try:
        with _history() as db:
            rows = db.execute(
                "SELECT id, state, pid, command, input, output FROM jobs"
                " ORDER BY created DESC LIMIT ?",
                [LIMIT],
            ).fetchall()
    except Exception:  # absent, locked, corrupt or an older schema: no candidates, no noise
        return []
    from codsh.processes import pid_alive

    jobs = []
    for job_id, state, pid, command, input_path, output in rows:
        if state == RUNNING and not pid_alive(pid):
            state = INTERRUPTED  # as `codsh job list` shows it
        jobs.append((job_id, state, command, input_path, output))
    return jobs


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= HELP_WIDTH else line[: HELP_WIDTH - 3] + "..."


def job_ids(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem[str]]:
    """Recorded job IDs starting with `incomplete`, newest first, each with its state and command."""
    return [
        CompletionItem(job_id, help=_short(f"{state}: {command}"))
        for job_id, state, command, _, _ in _recent_jobs()
        if job_id.startswith(incomplete)
    ]


def cids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem[str]]:
    """Input and output CIDs of recent jobs starting with `incomplete`, newest first, once each."""
    seen: dict[str, str] = {}
    for job_id, _, command, input_path, output in _recent_jobs():
        if output:
            seen.setdefault(output, _short(f"output of job {job_id}: {command}"))
        seen.setdefault(input_path, _short(f"input of job {job_id}: {command}"))
    return [
        CompletionItem(cid, help=help_text)
        for cid, help_text in seen.items()
        if cid.startswith(incomplete)
    ]
