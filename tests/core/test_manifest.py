"""Building a job's manifest (codsh/core/manifest.py): pure logic, no daemons."""

from __future__ import annotations

import json
from dataclasses import replace

from codsh.core.manifest import STDERR_EXCERPT, build_manifest, every_file, excerpt
from codsh.core.model import FileResult, Outcome, exit_error, timeout_error
from codsh.core.spec import JobSpec

SPEC = JobSpec("grep rain", "bafyroot", image_digest="sha256:aaa")
OUT = "bafyout"


def results() -> list[FileResult]:
    """Four files, not in path order: one ok, one reused, one exited 1, one timed out."""
    ok = FileResult("a.txt", "bafk1", 10, 0, "bafko1", 4, 4, seconds=0.5)
    reused = FileResult("b/c.txt", "bafk2", 20, 0, "bafko2", 6, 6, reused=True)
    exited = FileResult("a/z.txt", "bafk3", 30, 1, "bafko3", 0, 0, stderr="x" * 5000)
    exited.fail(Outcome.EXITED, exit_error(1))
    slow = FileResult("b/a.txt", "bafk4", 40)
    slow.fail(Outcome.TIMED_OUT, timeout_error(2, "the container was killed"))
    return [ok, reused, exited, slow]


def manifest(files: list[FileResult]) -> dict:  # type: ignore[type-arg]
    return json.loads(build_manifest(SPEC, OUT, files, 1.5))  # type: ignore[no-any-return]


def test_files_are_in_input_path_order() -> None:
    """Component by component: `a/z.txt` before `a.txt` (a plain string sort puts it after)."""
    paths = [f["path"] for f in manifest(results())["files"]]
    assert paths == ["a/z.txt", "a.txt", "b/a.txt", "b/c.txt"]


def test_the_manifest_does_not_depend_on_the_order_results_came_in() -> None:
    files = results()
    assert build_manifest(SPEC, OUT, files, 1.5) == build_manifest(SPEC, OUT, files[::-1], 1.5)


def test_each_file_has_its_outcome_and_exit_code() -> None:
    by_path = {f["path"]: f for f in manifest(results())["files"]}
    assert {p: (f["outcome"], f["exit_code"]) for p, f in by_path.items()} == {
        "a.txt": ("ok", 0),
        "b/c.txt": ("ok", 0),
        "a/z.txt": ("exited", 1),
        "b/a.txt": ("timed out", None),
    }
    assert by_path["b/a.txt"]["error"] == "timed out after 2s (the container was killed)"
    assert by_path["b/c.txt"]["reused"] is True and by_path["a.txt"]["reused"] is False


def test_a_long_stderr_is_cut_to_an_excerpt_that_keeps_its_start_and_end() -> None:
    stderr = "first line\n" + "." * 5000 + "\nTraceback: the end"
    files = [replace(results()[0], stderr=stderr)]
    kept = manifest(files)["files"][0]["stderr"]
    assert kept == excerpt(stderr, STDERR_EXCERPT)
    assert kept.startswith("first line\n") and kept.endswith("\nTraceback: the end")
    assert "\n[...]\n" in kept and len(kept) <= STDERR_EXCERPT + len("\n[...]\n")
    assert files[0].stderr == stderr  # the result itself keeps it all (its CID has it too)


def test_a_short_stderr_is_kept_whole() -> None:
    assert excerpt("oops\n", STDERR_EXCERPT) == "oops\n"


def test_the_summary_counts_ok_failed_reused_and_bytes() -> None:
    built = manifest(results())
    assert built["summary"] == {
        "files": 4,
        "ok": 2,
        "no_match": 0,
        "failed": 2,
        "reused": 1,
        "bytes_in": 100,
        "bytes_out": 10,
        "seconds": 1.5,
    }


def test_the_manifest_records_the_spec_with_its_target_and_the_output() -> None:
    spec = replace(SPEC, target=replace(SPEC.target, shard_size=7, memo=False))
    built = json.loads(build_manifest(spec, OUT, [], 0.0))
    assert built["output"] == OUT and built["files"] == []
    assert built["spec"]["command"] == "grep rain"
    assert (built["spec"]["target"]["shard_size"], built["spec"]["target"]["memo"]) == (7, False)
    assert (built["placement"], built["setup"]) == (None, [])


def test_every_file_reads_a_kept_folders_records_from_the_manifest_that_ran_them() -> None:
    def entry(path: str, reused: bool = False) -> dict[str, object]:
        return {"path": path, "exit_code": 0, "reused": reused}

    first = {"files": [entry("old/a"), entry("old/b"), entry("other/c")]}  # ran both folders
    second = {  # kept old/ as new/, then ran d
        "files": [entry("new/d")],
        "folders": [{"path": "new", "from": "old", "manifest": "m1"}],
    }
    third = {  # kept new/ (remembered by the second job) at the top
        "files": [],
        "folders": [{"path": "top/new", "from": "new", "manifest": "m2"}],
    }
    manifests = {"m1": first, "m2": second}
    assert every_file(second, manifests.__getitem__) == [
        entry("new/a", True),
        entry("new/b", True),
        entry("new/d"),
    ]
    assert [f["path"] for f in every_file(third, manifests.__getitem__)] == [
        "top/new/a",
        "top/new/b",
        "top/new/d",
    ]
