"""A submitted job, like a Dask future: `result()` waits for its output CID; `JobFailed` when
the job did not give a complete output."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from codsh.client.backend import Failure
from codsh.core.model import FileResult
from codsh.errors import EXIT_FAILURES, CodshError
from codsh.jobs.states import RUNNING

if TYPE_CHECKING:
    from codsh.client.sdk import Client

SUCCEEDED = "succeeded"


class JobFailed(CodshError):
    """A job did not give a complete output: some files failed (`state` "partial": `output` is
    the partial output's CID), or it errored, was cancelled or interrupted. `manifest` is the
    manifest's CID (when the job got that far), `failures` the files that failed."""

    exit_code = EXIT_FAILURES

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self.job_id: str = record["id"]
        self.state: str = record["state"]
        self.output: str | None = record.get("output")
        self.manifest: str | None = record.get("manifest")
        self.error: str | None = record.get("error")
        self.failures = [Failure.from_dict(f) for f in record.get("failures") or []]
        super().__init__(*describe_failure(record, self.failures))


def describe_failure(record: dict[str, Any], failures: list[Failure]) -> tuple[str, str]:
    """The message and hint of a JobFailed."""
    job, state = record["id"], record["state"]
    if state == "partial":
        message = f"job {job} partial: {record.get('failed')} of {record.get('files')} files failed"
        if failures:
            message += f"; first: {failures[0].path}: {failures[0].error}"
        return message, f"the partial output is {record.get('output')}; job.files() has them all"
    return f"job {job} {state}" + (f": {record['error']}" if record.get("error") else ""), ""


class Job:
    """A submitted job (also `client.job(ID)`): `result()` waits for its output CID."""

    def __init__(self, client: Client, job_id: str) -> None:
        self.client = client
        self.id = job_id

    def __repr__(self) -> str:
        return f"<codsh.Job {self.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Job) and other.id == self.id and other.client is self.client

    def __hash__(self) -> int:
        return hash(self.id)

    def record(self) -> dict[str, Any]:
        """The job's record (what `codsh job describe --json` shows), with `failures` so far."""
        return self.client._backend.record(self.id)

    def status(self) -> str:
        """running, succeeded, partial, error, cancelled or interrupted."""
        return str(self.record()["state"])

    def done(self) -> bool:
        return self.status() != RUNNING

    def result(self, timeout: float | None = None) -> str:
        """The output CID, once the job has succeeded; JobFailed if it did not (TimeoutError
        after `timeout` seconds)."""
        record = self._ended(timeout)
        if record["state"] != SUCCEEDED:
            raise JobFailed(self._with_stage_failures(record))
        return str(record["output"])

    def files(self, timeout: float | None = None) -> list[FileResult]:
        """Every file's result (exit code, output CID, stderr excerpt, node, ...), from the
        manifest, once the job has ended; failed files included."""
        record = self._ended(timeout)
        if not record.get("manifest"):
            raise JobFailed(record)
        from codsh.core.manifest import every_file  # (the manifest's module, only when asked)

        read = functools.cache(lambda cid: json.loads(self.client._backend.read(cid)))
        return [FileResult.from_dict(entry) for entry in every_file(read(record["manifest"]), read)]

    def events(self) -> Iterator[dict[str, Any]]:
        """The job's events until its end: `progress` (the counts so far), `listed`, `file` (one
        per file), `stage`/`staged` (a pipeline's), `end` (the state, output, manifest)."""
        return self.client._backend.events(self.id)

    def cancel(self) -> bool:
        """Stop the job (containers removed, recorded as cancelled, what finished kept) and wait
        for its end; False if it had already ended."""
        return self.client._backend.cancel(self.id)

    def _with_stage_failures(self, record: dict[str, Any]) -> dict[str, Any]:
        """A pipeline's record with its steps' failures (its own record has none)."""
        if record.get("mode") != "pipeline" or record.get("failures"):
            return record
        stages = record.get("stages") or []
        found = [f for s in stages for f in self.client._backend.record(s["job"])["failures"]]
        return {**record, "failures": found}

    def _wait(self, deadline: float | None) -> dict[str, Any] | None:
        return self.client._backend.wait(self.id, deadline)

    def _ended(self, timeout: float | None) -> dict[str, Any]:
        record = self._wait(None if timeout is None else time.monotonic() + timeout)
        if record is None:
            raise TimeoutError(f"job {self.id} is still running after {timeout:g}s")
        return record
