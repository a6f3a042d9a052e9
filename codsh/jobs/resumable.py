"""Which jobs `codsh job resume` takes, here and on the orchestrator (POST /v1/jobs/ID/resume):
one that was interrupted, cancelled or failed; not a running one, a succeeded one or a pipeline.
And which of its recorded results it keeps: all but those whose infrastructure failed."""

from __future__ import annotations

from codsh.core.memo import kept_on_resume
from codsh.core.model import FileResult
from codsh.errors import InputError
from codsh.jobs.states import RUNNING, SUCCEEDED
from codsh.jobs.store import JobRecord, JobStore


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


def kept_results(store: JobStore, job_id: str) -> dict[str, FileResult]:
    """The recorded results of `job_id` a resume keeps (by path): not those whose infrastructure
    failed, which run again (core/memo.kept_on_resume)."""
    return {path: r for path, r in store.results(job_id).items() if kept_on_resume(r)}
