"""Which jobs `codsh job resume` takes, here and on the orchestrator (POST /v1/jobs/ID/resume):
one that was interrupted, cancelled or failed; not a running one, a succeeded one or a pipeline."""

from __future__ import annotations

from codsh.errors import InputError
from codsh.jobs.store import RUNNING, SUCCEEDED, JobRecord


def check_resumable(record: JobRecord, running: str) -> None:
    """An InputError unless `record` can be resumed; `running` says where it runs (`pid 123`)."""
    if record.state == RUNNING:
        raise InputError(
            f"job {record.id} is still running ({running})", "wait for it, or cancel it first"
        )
    if record.state == SUCCEEDED:
        raise InputError(f"job {record.id} already succeeded: {record.output}", "nothing to resume")
    if record.mode == "pipeline":
        raise InputError(
            f"job {record.id} is a pipeline: its stages are not resumed one by one",
            "run the same `codsh pipe` again: the memo skips every file already done",
        )
