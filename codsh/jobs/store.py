"""Job records: what ran, where, how it stands and what it produced, in SQLite under the data dir.

Written by the process that runs the job (the driver), read by `codsh job list` and `describe`.
A record left "running" by a process that no longer exists reads as "interrupted".
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import orjson

from codsh.core.folders import KeptFolder, folder_keys
from codsh.core.memo import memo_keys, reusable
from codsh.core.model import FileResult, Outcome
from codsh.core.vote import tally
from codsh.errors import InputError
from codsh.jobs.states import ERROR, INTERRUPTED, PARTIAL, RUNNING, SUCCEEDED
from codsh.processes import pid_alive

if TYPE_CHECKING:
    from codsh.jobs.finish import JobResult
from codsh.core.spec import JobSpec

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
CREATE TABLE IF NOT EXISTS memo (
    key TEXT PRIMARY KEY,
    result TEXT NOT NULL,
    created REAL NOT NULL
);
"""
ADDED_COLUMNS = {
    "name": "TEXT",
    "reused": "INTEGER",
    "stages": "TEXT",
    "owner": "TEXT",
}  # since the first schema
RECALL_BATCH = 500  # keys per query (SQLite allows 999 parameters in older builds)


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
    name: str | None = None  # given with --name: `describe NAME` is its latest run
    reused: int | None = None  # files whose result came from the memo
    stages: str | None = None  # a pipeline's stages, with their input and output CIDs (JSON)
    owner: str | None = None  # who submitted it through the orchestrator's API (a token's name)

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["spec"] = json.loads(self.spec)
        record["placement"] = json.loads(self.placement) if self.placement else None
        record["stages"] = json.loads(self.stages) if self.stages else None
        return record


class JobStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection, used from several threads (jobs/events.Recorder, the orchestrator's
        # concurrent jobs): every use holds the lock, so transactions never interleave.
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        present = {row["name"] for row in self._db.execute("PRAGMA table_info(jobs)")}
        with self._lock, self._db:
            for column, kind in ADDED_COLUMNS.items():
                if column not in present:
                    self._db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def create(
        self,
        spec: JobSpec,
        runs_on: str,
        name: str | None = None,
        job_id: str | None = None,
        owner: str | None = None,
    ) -> JobRecord:
        """A new running job; `job_id` names it (a pipeline's stage), else a random ID does."""
        return self._insert(
            job_id or new_id(),
            spec.command,
            spec.input,
            spec.mode,
            spec.canonical_json(),
            runs_on,
            name,
            owner,
        )

    def create_pipeline(
        self,
        job_id: str,
        command: str,
        input_path: str,
        spec: str,
        runs_on: str,
        name: str | None,
        owner: str | None = None,
    ) -> JobRecord:
        """A new running pipeline; its stages are jobs with IDs `{job_id}-1`, `{job_id}-2`, ..."""
        return self._insert(job_id, command, input_path, "pipeline", spec, runs_on, name, owner)

    def _insert(
        self,
        job_id: str,
        command: str,
        input_path: str,
        mode: str,
        spec: str,
        runs_on: str,
        name: str | None,
        owner: str | None = None,
    ) -> JobRecord:
        now = time.time()
        record = JobRecord(
            id=job_id,
            created=now,
            updated=now,
            state=RUNNING,
            pid=os.getpid(),
            runs_on=runs_on,
            command=command,
            input=input_path,
            mode=mode,
            spec=spec,
            name=name,
            owner=owner,
        )
        names = [f.name for f in fields(JobRecord)]
        marks = ", ".join("?" for _ in names)
        values = [getattr(record, name) for name in names]
        with self._lock, self._db:
            self._db.execute(f"INSERT INTO jobs ({', '.join(names)}) VALUES ({marks})", values)
        return record

    def finish(self, job_id: str, result: JobResult) -> None:
        placement = json.dumps(asdict(result.placement)) if result.placement else None
        self._update(
            job_id,
            state=SUCCEEDED if result.ok else PARTIAL,
            output=result.output_cid,
            manifest=result.manifest_cid,
            files=result.file_count,
            failed=len(result.failed),
            seconds=result.seconds,
            placement=placement,
            reused=result.reused,
            error=result.stopped or None,  # stopped at its price limit: partial, resumable
        )

    def set_stages(self, job_id: str, stages: list[dict[str, Any]]) -> None:
        """A pipeline's lineage so far: per stage, its job, input and output CIDs and counts."""
        self._update(job_id, stages=json.dumps(stages, ensure_ascii=False))

    def finish_pipeline(
        self, job_id: str, stages: list[dict[str, Any]], failed: int, seconds: float
    ) -> None:
        """`failed`: the input files lost in some stage (a file failing twice counts once)."""
        last = stages[-1]
        self._update(
            job_id,
            state=PARTIAL if failed else SUCCEEDED,
            output=last["output"],
            manifest=last["manifest"],
            files=stages[0]["files"],
            failed=failed,
            reused=sum(stage["reused"] for stage in stages),
            seconds=seconds,
            stages=json.dumps(stages, ensure_ascii=False),
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

    def save_results(
        self, job_id: str, results: list[FileResult], memo_of: JobSpec | None = None
    ) -> None:
        """Record per-file results of job `job_id`, and (given its spec) remember the reusable ones."""
        rows = [(job_id, r.path, _result_json(r)) for r in results]
        now = time.time()
        memo = []
        if memo_of is not None:
            key = memo_keys(memo_of)
            memo = [(key(r.input_cid), _result_json(r), now) for r in results if reusable(r)]
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO job_files VALUES (?, ?, ?)", rows)
            self._db.executemany("INSERT OR REPLACE INTO memo VALUES (?, ?, ?)", memo)

    def recall(self, spec: JobSpec, cids: list[str]) -> dict[str, FileResult]:
        """The remembered results of input CIDs `cids` under `spec` (see codsh/core/memo.py)."""
        found = self._remembered(memo_keys(spec), cids)
        return {cid: FileResult.from_dict(orjson.loads(text)) for cid, text in found.items()}

    def recall_folders(self, spec: JobSpec, cids: list[str]) -> dict[str, KeptFolder]:
        """The remembered outputs of folders (by CID) under `spec` (see codsh/core/folders.py)."""
        found = self._remembered(folder_keys(spec), cids)
        return {cid: KeptFolder.from_dict(orjson.loads(text)) for cid, text in found.items()}

    def _remembered(self, key: Callable[[str], str], cids: list[str]) -> dict[str, str]:
        """The memo's entries for `cids` (keyed by `key`), as stored, a query per batch."""
        by_key = {key(cid): cid for cid in cids}
        keys = list(by_key)
        found: dict[str, str] = {}
        for start in range(0, len(keys), RECALL_BATCH):
            batch = keys[start : start + RECALL_BATCH]
            marks = ", ".join("?" for _ in batch)
            rows = self._read(f"SELECT key, result FROM memo WHERE key IN ({marks})", batch)
            for row in rows:
                found[by_key[row["key"]]] = row["result"]
        return found

    def remember_folders(self, spec: JobSpec, folders: list[KeptFolder]) -> None:
        """Remember `folders`' outputs under `spec`, by their input CIDs."""
        key = folder_keys(spec)
        now = time.time()
        rows = [(key(k.input_cid), orjson.dumps(k.as_dict()).decode(), now) for k in folders]
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO memo VALUES (?, ?, ?)", rows)

    def results(self, job_id: str) -> dict[str, FileResult]:
        """The per-file results recorded so far, by input path."""
        rows = self._read("SELECT result FROM job_files WHERE job_id = ?", [job_id])
        found = [FileResult.from_dict(orjson.loads(row["result"])) for row in rows]
        return {result.path: result for result in found}

    def notable_results(self, job_id: str) -> tuple[int, list[FileResult]]:
        """How many per-file results job `job_id` recorded, and those that are not a successful
        memo reuse (what a job's record shows: its failures, its bill), without decoding the
        10,000s a rerun reuses."""
        count = self._read("SELECT count(*) AS n FROM job_files WHERE job_id = ?", [job_id])
        rows = self._read(
            "SELECT result FROM job_files WHERE job_id = ? AND NOT coalesce("
            "json_extract(result, '$.reused') = 1 AND json_extract(result, '$.outcome') IN (?, ?)"
            ", 0)",
            [job_id, str(Outcome.OK), str(Outcome.NO_MATCH)],
        )
        notable = [FileResult.from_dict(orjson.loads(row["result"])) for row in rows]
        return count[0]["n"], notable

    def node_tallies(self) -> dict[str, tuple[int, int]]:
        """Per node (as results name it; "" on one machine): the files it ran over every job
        recorded here, and how many of them failed. A memo reuse is not a run (the file ran
        once, where first recorded); a file run again counts once, with its last result."""
        rows = self._read(
            "SELECT coalesce(json_extract(result, '$.node'), '') AS node, count(*) AS ran, "
            "sum(json_extract(result, '$.error') IS NOT NULL) AS failed FROM job_files "
            "WHERE coalesce(json_extract(result, '$.reused'), 0) = 0 GROUP BY 1",
            [],
        )
        return {str(row["node"]): (int(row["ran"]), int(row["failed"] or 0)) for row in rows}

    def votes(self) -> list[tuple[str, dict[str, Any]]]:
        """(outcome, vote) of every voted file recorded here (replicated runs; core/vote.tally)."""
        rows = self._read(
            "SELECT json_extract(result, '$.outcome') AS outcome, json_extract(result, '$.vote') "
            "AS vote FROM job_files WHERE json_extract(result, '$.vote') IS NOT NULL "
            "AND coalesce(json_extract(result, '$.reused'), 0) = 0",
            [],
        )
        return [(str(row["outcome"]), json.loads(row["vote"])) for row in rows]

    def outvoted_nodes(self) -> frozenset[str]:
        """The nodes some vote recorded here outvoted: sampled verification checks all theirs."""
        return frozenset(node for node, c in tally(self.votes()).items() if c["outvoted"])

    def _update(self, job_id: str, **values: Any) -> None:
        values["updated"] = time.time()
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self._lock, self._db:
            self._db.execute(
                f"UPDATE jobs SET {assignments} WHERE id = ?", [*values.values(), job_id]
            )

    def get(self, prefix: str) -> JobRecord:
        """The job with ID `prefix`, else the latest run of the job named `prefix`, else the job
        whose ID starts with `prefix` (IDs are long; a few characters usually do)."""
        for query in (
            "SELECT * FROM jobs WHERE id = ?",
            "SELECT * FROM jobs WHERE name = ? ORDER BY created DESC LIMIT 1",
        ):
            rows = self._read(query, [prefix])
            if rows:
                return _record(rows[0])
        stages = "" if "-" in prefix else "AND id NOT LIKE '%-%'"  # a pipeline, not its stages
        rows = self._read(
            f"SELECT * FROM jobs WHERE id LIKE ? {stages} ORDER BY created DESC LIMIT 2",
            [prefix + "%"],
        )
        if not rows or not prefix:
            raise InputError(f"no job {prefix!r}", "`codsh job list` shows the jobs run from here")
        if len(rows) > 1:
            raise InputError(
                f"several jobs start with {prefix!r}", "give more characters of the ID"
            )
        return _record(rows[0])

    def recent(
        self, limit: int = 50, name: str | None = None, owner: str | None = None
    ) -> list[JobRecord]:
        """The latest jobs, newest first (only the runs of job `name`, or `owner`'s, when given)."""
        conditions = [(c, v) for c, v in (("name = ?", name), ("owner = ?", owner)) if v]
        where = "WHERE " + " AND ".join(c for c, _ in conditions) if conditions else ""
        rows = self._read(
            f"SELECT * FROM jobs {where} ORDER BY created DESC LIMIT ?",
            [*(v for _, v in conditions), limit],
        )
        return [_record(row) for row in rows]

    def _read(self, query: str, args: list[Any]) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(query, args).fetchall()


def _result_json(result: FileResult) -> str:
    """A per-file result as stored: orjson, ~15x faster than json.dumps, which took ~1 s of a
    30,000-file rerun's recording (SQLite's json_extract reads either)."""
    return orjson.dumps(result.as_dict()).decode()


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def _record(row: sqlite3.Row) -> JobRecord:
    record = JobRecord(**dict(row))
    if record.state == RUNNING and not pid_alive(record.pid):
        record.state = INTERRUPTED
    return record
