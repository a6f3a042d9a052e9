"""Job records in SQLite: no daemons, a temporary database."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from codsh.core.model import FileResult, Outcome
from codsh.core.plan import LocalityReport
from codsh.core.spec import JobSpec
from codsh.errors import InputError
from codsh.jobs.finish import JobResult
from codsh.jobs.states import ERROR, INTERRUPTED, PARTIAL, RUNNING, SUCCEEDED
from codsh.jobs.store import JobStore

EXITED, TIMED_OUT = Outcome.EXITED, Outcome.TIMED_OUT
SPEC = JobSpec("grep rain", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")


def result(failed: int = 0) -> JobResult:
    files = [FileResult(f"f{i}", "cid", 1) for i in range(3)]
    for lost in files[:failed]:
        lost.fail(Outcome.EXITED, "boom")
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


def test_remembered_results_are_recalled_by_input_cid_under_the_same_spec(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    job = store.create(SPEC, "this node")
    done = FileResult("a.txt", "bafkin1", 3, 0, "bafkout1", 2, 2, stderr="note")
    grep_found_nothing = FileResult(
        "b.txt", "bafkin2", 3, 1, "bafkempty", 0, 0, error="exited with code 1", outcome=EXITED
    )
    timed_out = FileResult(
        "c.txt", "bafkin3", 3, None, "bafkout3", 0, 0, error="timed out", outcome=TIMED_OUT
    )
    store.save_results(job.id, [done, grep_found_nothing, timed_out], memo_of=SPEC)
    recalled = store.recall(SPEC, ["bafkin1", "bafkin2", "bafkin3", "bafkunknown"])
    assert recalled == {"bafkin1": done, "bafkin2": grep_found_nothing}
    assert store.recall(replace(SPEC, command="grep snow"), ["bafkin1"]) == {}
    # many keys at once (queries go in batches)
    assert len(store.recall(SPEC, [f"bafk{i}" for i in range(1200)] + ["bafkin1"])) == 1


def test_every_field_of_a_result_comes_back_as_it_was_saved(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    odd = FileResult(
        "día 1/a\nb \u00e9\u2603.txt",
        "bafkreiinput",
        7,
        exit_code=1,
        output_cid="bafkreioutput",
        output_size=3,
        stderr="line one\n\x00binary \u00ff\n",
        seconds=0.125,
        node="node1",
        outcome=EXITED,
        error="exit status 1",
        vote={"agreed": ["n1", "n2"], "outvoted": []},
        replica_use=[{"node": "n1", "cpu_seconds": 1e-7, "cost": 2.5e-9}],
        cpu_seconds=1 / 3,
        peak_memory=2**40,
    )
    store.save_results("job", [odd], SPEC)
    assert store.results("job") == {odd.path: odd}
    assert store.recall(SPEC, ["bafkreiinput"]) == {"bafkreiinput": odd}


def test_results_saved_without_a_spec_are_not_remembered(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    job = store.create(SPEC, "this node")
    store.save_results(job.id, [FileResult("a", "bafkin1", 3, 0, "bafkout1", 2, 2)])
    assert store.recall(SPEC, ["bafkin1"]) == {}
    assert list(store.results(job.id)) == ["a"]


def test_a_records_notable_results_leave_out_only_its_successful_reuses(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    job = store.create(SPEC, "this node")
    ran = FileResult("ran", "bafkin1", 3, 0, "bafkout1", 2, 2)
    reused = replace(ran, path="reused", reused=True)
    empty = replace(reused, path="empty", outcome=Outcome.NO_MATCH)
    failed = FileResult("failed", "bafkin2", 3, 2, "bafkout2", 0, 0, reused=True, outcome=EXITED)
    store.save_results(job.id, [ran, reused, empty, failed])
    legacy = {"path": "legacy", "input_cid": "c", "input_size": 1, "reused": True}  # no outcome
    with store._db:
        store._db.execute(
            "INSERT INTO job_files VALUES (?, ?, ?)", (job.id, "legacy", json.dumps(legacy))
        )
    recorded, notable = store.notable_results(job.id)
    assert recorded == 5
    assert sorted(r.path for r in notable) == ["failed", "legacy", "ran"]


def test_a_name_finds_the_latest_run_and_filters_the_list(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    first = store.create(SPEC, "this node", name="nightly")
    store.create(SPEC, "this node")
    second = store.create(SPEC, "this node", name="nightly")
    assert store.get("nightly").id == second.id
    assert [r.id for r in store.recent(10, name="nightly")] == [second.id, first.id]
    store.finish(second.id, result())
    assert store.get("nightly").reused == 0


def test_a_pipeline_id_is_not_confused_with_its_stages(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    pipe = store.create_pipeline("0123abcd4567", "pipe cat", "bafyin", "{}", "this node", None)
    store.create(SPEC, "this node", job_id=f"{pipe.id}-1")
    store.create(SPEC, "this node", job_id=f"{pipe.id}-2")
    assert store.get(pipe.id).mode == "pipeline"
    assert store.get("0123").id == pipe.id  # a prefix means the pipeline, not a stage
    assert store.get(f"{pipe.id}-2").id == f"{pipe.id}-2"
    stages = [
        {"stage": 1, "output": "bafy1", "manifest": "bafkm1", "files": 3, "failed": 1, "reused": 0},
        {"stage": 2, "output": "bafy2", "manifest": "bafkm2", "files": 1, "failed": 0, "reused": 1},
    ]
    store.finish_pipeline(pipe.id, stages, 1, 2.5)
    record = store.get(pipe.id)
    assert (record.state, record.output, record.files, record.failed) == (PARTIAL, "bafy2", 3, 1)
    assert record.as_dict()["stages"] == stages


def test_a_database_from_before_names_and_memo_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    with sqlite3.connect(path) as db:  # the first schema's jobs table
        db.execute(
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, created REAL NOT NULL, updated REAL NOT NULL,"
            " state TEXT NOT NULL, pid INTEGER NOT NULL, runs_on TEXT NOT NULL, command TEXT NOT"
            " NULL, input TEXT NOT NULL, mode TEXT NOT NULL, spec TEXT NOT NULL, output TEXT,"
            " manifest TEXT, files INTEGER, failed INTEGER, seconds REAL, placement TEXT,"
            " error TEXT)"
        )
        db.execute(
            "INSERT INTO jobs (id, created, updated, state, pid, runs_on, command, input, mode,"
            " spec) VALUES ('old', 1, 1, 'succeeded', 1, 'this node', 'cat', 'bafy', 'per-file',"
            " ?)",
            [SPEC.canonical_json()],
        )
    store = JobStore(path)
    assert store.get("old").name is None
    assert store.create(SPEC, "this node", name="new").name == "new"
