"""Job records: what ran, where, how it stands and what it produced, in SQLite under the data dir.

Written by the process that runs the job (the driver), read by `codsh job list` and `describe`.
A record left "running" by a process that no longer exists reads as "interrupted".
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import trio

from codsh.driver import JobResult
from codsh.errors import InputError
from codsh.executor.shard import FileResult
from codsh.processes import pid_alive
from codsh.spec import JobSpec

RUNNING, SUCCEEDED, PARTIAL, ERROR, CANCELLED, INTERRUPTED = (
    "running",
    "succeeded",
    "partial",
    "error",
    "cancelled",
    "interrupted",
)
FINAL = {SUCCEEDED: 0, PARTIAL: 1, ERROR: 2, CANCELLED: 2, INTERRUPTED: 2}  # state -> exit code

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    state TEXT NOT NULL,
    pid INTEGER NOT NULL,
    runs_on TEXT NOT NULL,
    command TEXT NOT NULL,
    input TEXT NOT NULL,
    mode TEXT NOT NULL,
    spec TEXT NOT NULL,
    output TEXT,
    manifest TEXT,
    files INTEGER,
    failed INTEGER,
    seconds REAL,
    placement TEXT,
    error TEXT
);
CREATE TABLE IF NOT EXISTS job_files (
    job_id TEXT NOT NULL,
    path TEXT NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (job_id, path)
);
"""


@dataclass
class JobRecord:
    id: str
    created: float
    updated: float
    state: str
    pid: int
    runs_on: str  # "this node" or the scheduler's address
    command: str
    input: str
    mode: str
    spec: str
    output: str | None = None
    manifest: str | None = None
    files: int | None = None
    failed: int | None = None
    seconds: float | None = None
    placement: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["spec"] = json.loads(self.spec)
        record["placement"] = json.loads(self.placement) if self.placement else None
        return record


class JobStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # one user at a time, but that user may be a worker thread (see ResultSaver)
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def create(self, spec: JobSpec, runs_on: str) -> JobRecord:
        now = time.time()
        record = JobRecord(
            id=uuid.uuid4().hex[:12],
            created=now,
            updated=now,
            state=RUNNING,
            pid=os.getpid(),
            runs_on=runs_on,
            command=spec.command,
            input=spec.input,
            mode=spec.mode,
            spec=spec.canonical_json(),
        )
        names = [f.name for f in fields(JobRecord)]
        marks = ", ".join("?" for _ in names)
        values = [getattr(record, name) for name in names]
        with self._db:
            self._db.execute(f"INSERT INTO jobs ({', '.join(names)}) VALUES ({marks})", values)
        return record

    def finish(self, job_id: str, result: JobResult) -> None:
        placement = json.dumps(asdict(result.placement)) if result.placement else None
        self._update(
            job_id,
            state=SUCCEEDED if result.ok else PARTIAL,
            output=result.output_cid,
            manifest=result.manifest_cid,
            files=len(result.files),
            failed=len(result.failed),
            seconds=result.seconds,
            placement=placement,
        )

    def fail(self, job_id: str, error: str, state: str = ERROR) -> None:
        self._update(job_id, state=state, error=error)

    def adopt(self, job_id: str) -> JobRecord:
        """This process now runs recorded job `job_id` (a detached run)."""
        self.set_pid(job_id, os.getpid())
        return self.get(job_id)

    def set_pid(self, job_id: str, pid: int) -> None:
        self._update(job_id, pid=pid)

    def restart(self, job_id: str) -> JobRecord:
        """Run a stopped job again in this process (`codsh job resume`)."""
        self._update(job_id, state=RUNNING, pid=os.getpid(), error=None)
        return self.get(job_id)

    def save_results(self, job_id: str, results: list[FileResult]) -> None:
        rows = [(job_id, r.path, json.dumps(asdict(r))) for r in results]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO job_files VALUES (?, ?, ?)", rows)

    def results(self, job_id: str) -> dict[str, FileResult]:
        """The per-file results recorded so far, by input path."""
        rows = self._db.execute("SELECT result FROM job_files WHERE job_id = ?", [job_id])
        found = [FileResult(**json.loads(row["result"])) for row in rows.fetchall()]
        return {result.path: result for result in found}

    def _update(self, job_id: str, **values: Any) -> None:
        values["updated"] = time.time()
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self._db:
            self._db.execute(
                f"UPDATE jobs SET {assignments} WHERE id = ?", [*values.values(), job_id]
            )

    def get(self, prefix: str) -> JobRecord:
        """The job whose ID starts with `prefix` (IDs are long; a few characters usually do)."""
        rows = self._db.execute(
            "SELECT * FROM jobs WHERE id LIKE ? ORDER BY created DESC LIMIT 2", [prefix + "%"]
        ).fetchall()
        if not rows or not prefix:
            raise InputError(f"no job {prefix!r}", "`codsh job list` shows the jobs run from here")
        if len(rows) > 1:
            raise InputError(
                f"several jobs start with {prefix!r}", "give more characters of the ID"
            )
        return _record(rows[0])

    def recent(self, limit: int = 50) -> list[JobRecord]:
        rows = self._db.execute("SELECT * FROM jobs ORDER BY created DESC LIMIT ?", [limit])
        return [_record(row) for row in rows.fetchall()]


def _record(row: sqlite3.Row) -> JobRecord:
    record = JobRecord(**dict(row))
    if record.state == RUNNING and not pid_alive(record.pid):
        record.state = INTERRUPTED
    return record


class ResultSaver:
    """Records per-file results as a job runs, in batches (a commit per file would cost more than
    the file), so a resumed job reruns at most the last `every` seconds of work."""

    def __init__(self, store: JobStore, job_id: str, every: float = 1.0) -> None:
        self._store = store
        self._job_id = job_id
        self._every = every
        self._pending: list[FileResult] = []

    def add(self, result: FileResult) -> None:
        self._pending.append(result)

    async def run(self) -> None:
        while True:
            await trio.sleep(self._every)
            await self.flush()

    async def flush(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._store.save_results, self._job_id, batch)
