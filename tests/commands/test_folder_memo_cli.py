"""The folder memo end to end (core/folders.py): a rerun links unchanged folders whole, and gives
the same output CID as a run without the memo. The real CLI, real kubo, real Docker; every test
has a job store of its own."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from codsh.core.folders import MIN_FILES
from codsh.core.model import path_order
from codsh.kubo_daemon import KuboProcess
from tests.commands.cli import Tree, add, codsh, fetch
from tests.commands.test_memo_cli import home, local_run, manifest, ran, run_json
from tests.conftest import ipfs_cli

UPPER = "tr a-z A-Z"
__all__ = ["home"]  # the fixture, used by name


def folder(name: str, tag: str, count: int = MIN_FILES) -> Tree:
    return {f"{name}/r{i:03}.txt": f"{name} reading {i} {tag}\n".encode() for i in range(count)}


def test_a_rerun_links_unchanged_folders_whole_and_runs_the_rest(
    home: dict[str, str], tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex
    day1: Tree = {**folder("jan", tag), **folder("feb", tag), "notes.txt": b"top level\n"}
    code, first = run_json(home, "run", "-e", UPPER, "-c", add(home, tmp_path / "v1", day1))
    assert (code, first["files"], first["reused"]) == (0, 2 * MIN_FILES + 1, 0)

    changed = {**folder("feb", tag), "feb/r007.txt": b"feb changed\n"}
    day2: Tree = {**day1, **changed, "mar/r000.txt": b"march\n"}
    source = add(home, tmp_path / "v2", day2)
    code, second = run_json(home, "run", "-e", UPPER, "-c", source)
    assert (code, second["files"], second["failed"]) == (0, 2 * MIN_FILES + 2, 0)
    assert second["reused"] == 2 * MIN_FILES  # jan whole, feb file by file but one, notes.txt
    job = manifest(home, second)
    assert [(f["path"], f["files"]) for f in job["folders"]] == [("jan", MIN_FILES)]
    assert job["folders"][0]["manifest"] == first["manifest"]  # where its files' records are
    assert not any(f["path"].startswith("jan/") for f in job["files"])
    assert ran(job) == {"feb/r007.txt", "mar/r000.txt"}
    summary = job["summary"]
    assert (summary["files"], summary["reused"]) == (2 * MIN_FILES + 2, 2 * MIN_FILES)

    code, fresh = run_json(home, "run", "-e", UPPER, "--no-memo", "-c", source)
    assert (code, fresh["reused"], fresh["output"]) == (0, 0, second["output"])
    assert "folders" not in manifest(home, fresh)
    expected = {p: local_run(UPPER, tmp_path / "v2" / p) for p in day2}
    assert fetch(home, second["output"], tmp_path / "out") == {
        "jan": None, "feb": None, "mar": None, **expected
    }  # fmt: skip

    code, third = run_json(home, "run", "-e", UPPER, "-c", source)  # feb is remembered now
    names = [f["path"] for f in manifest(home, third)["folders"]]
    assert (code, third["reused"], names) == (0, 2 * MIN_FILES + 2, ["feb", "jan"])
    assert third["output"] == second["output"]
    text = codsh("job", "describe", third["job"], env=home).out.decode()
    assert f"{2 * MIN_FILES + 2} (0 failed, {2 * MIN_FILES + 2} reused)" in text
    logs = codsh("job", "logs", third["job"], "--json", env=home)  # every file's record
    entries = [json.loads(line) for line in logs.lines]
    assert [e["path"] for e in entries] == sorted(day2, key=path_order)
    assert all(e["reused"] and e["exit_code"] == 0 for e in entries)
    assert {e["output_cid"] for e in entries if e["path"] == "feb/r007.txt"} == {
        f["output_cid"] for f in job["files"] if f["path"] == "feb/r007.txt"
    }


def test_a_folder_with_a_failure_is_never_linked_whole(
    home: dict[str, str], tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex
    tree: Tree = {**folder("logs", f"rain {tag}"), "logs/r050.txt": b"sun only\n"}
    source = add(home, tmp_path / "in", tree)
    for _ in range(2):  # the rerun lists the failure again, file by file
        code, record = run_json(home, "run", "-e", "grep rain", "--ok-exit", "0", "-c", source)
        assert (code, record["files"], record["failed"]) == (1, MIN_FILES, 1)
        job = manifest(home, record)
        assert "folders" not in job
        assert [f["path"] for f in job["files"] if f["error"]] == ["logs/r050.txt"]
    assert record["reused"] == MIN_FILES  # the failure too: exit 1 is the file's own result


def test_a_folder_whose_output_is_gone_runs_again(
    home: dict[str, str], tmp_path: Path, kubo: KuboProcess
) -> None:
    tag = uuid.uuid4().hex  # outputs no other test makes: gc takes only ours
    source = add(home, tmp_path / "in", folder("logs", tag))
    code, first = run_json(home, "run", "-e", UPPER, "-c", source)
    assert code == 0
    ipfs_cli(kubo, "pin", "rm", first["output"])
    ipfs_cli(kubo, "repo", "gc")

    code, again = run_json(home, "run", "-e", UPPER, "-c", source)
    job = manifest(home, again)
    assert (code, again["reused"], again["output"]) == (0, 0, first["output"])
    assert "folders" not in job and len(ran(job)) == MIN_FILES
    assert fetch(home, f"{again['output']}/logs", tmp_path / "out")["r001.txt"] == (
        f"LOGS READING 1 {tag.upper()}\n".encode()
    )
