"""Job records in SQLite: no daemons, a temporary database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from codsh.driver import JobResult
from codsh.errors import InputError
from codsh.executor.shard import FileResult
from codsh.jobs import ERROR, INTERRUPTED, PARTIAL, RUNNING, SUCCEEDED, JobStore
from codsh.placement import LocalityReport
from codsh.spec import JobSpec

SPEC = JobSpec("grep rain", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")


def result(failed: int = 0) -> JobResult:
    files = [FileResult(f"f{i}", "cid", 1, error="boom" if i < failed else None) for i in range(3)]
    report = LocalityReport(1.0, 3, 0, {"node0": 1})
    return JobResult("bafyout", "bafkman", files, 1.5, SPEC, [f for f in files if not f.ok], report)


def test_a_job_goes_from_running_to_succeeded(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    record = store.create(SPEC, "this node")
    assert store.get(record.id).state == RUNNING
    store.finish(record.id, result())
    done = store.get(record.id[:4])
    assert (done.state, done.output, done.manifest, done.files, done.failed) == (
        SUCCEEDED,
        "bafyout",
        "bafkman",
        3,
        0,
    )
    assert done.as_dict()["placement"]["shards_per_node"] == {"node0": 1}
    assert json.loads(done.spec)["command"] == "grep rain"


def test_partial_error_and_listing_newest_first(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    first = store.create(SPEC, "this node")
    store.finish(first.id, result(failed=2))
    second = store.create(SPEC, "tls://127.0.0.1:1")
    store.fail(second.id, "kubo does not answer")
    listed = store.recent()
    assert [r.id for r in listed] == [second.id, first.id]
    assert (listed[0].state, listed[0].error) == (ERROR, "kubo does not answer")
    assert (listed[1].state, listed[1].failed) == (PARTIAL, 2)


def test_a_running_record_whose_process_is_gone_reads_as_interrupted(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    record = store.create(SPEC, "this node")
    with sqlite3.connect(tmp_path / "jobs.sqlite") as db:
        db.execute("UPDATE jobs SET pid = ? WHERE id = ?", [2**22 + 12345, record.id])
    assert store.get(record.id).state == INTERRUPTED


def test_unknown_and_ambiguous_ids(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    with pytest.raises(InputError, match="no job"):
        store.get("nope")
    for _ in range(40):  # 40 random hex IDs: two share a first character
        store.create(SPEC, "this node")
    with pytest.raises(InputError, match="several jobs"):
        store.get(_shared_prefix(store))


def _shared_prefix(store: JobStore) -> str:
    firsts = [r.id[0] for r in store.recent(100)]
    return next(c for c in firsts if firsts.count(c) > 1)
