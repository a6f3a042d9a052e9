"""The folder memo's decisions: which folders are remembered, which a rerun links whole, and that a
linked folder gives the very tree a full merge gives. Pure logic, no daemons."""

from __future__ import annotations

from dataclasses import replace

from codsh.core.folders import (
    KeptFolder,
    candidates,
    files_outside,
    folder_keys,
    outside,
    still_held,
    to_remember,
)
from codsh.core.memo import memo_keys
from codsh.core.merge import Output, merge_per_file
from codsh.core.model import FileResult, InputFile, Outcome
from codsh.core.spec import JobSpec
from codsh.core.unixfs import raw_cid

SPEC = JobSpec("grep rain", "bafyroot", image_digest="sha256:aaa")
FOLDERS = {"a": "bafya", "a/deep": "bafydeep", "b": "bafyb", "c": "bafyc"}


def result(path: str, outcome: Outcome = Outcome.OK, code: int | None = 0) -> FileResult:
    data = path.encode()
    made = FileResult(
        path, f"in-{path}", 10, code, raw_cid(data), len(data), len(data), outcome=outcome
    )
    made.node = f"node-{path[0]}"
    return made


def kept(path: str, files: int = 2, outputs: tuple[str, ...] = ("o1",)) -> KeptFolder:
    return KeptFolder(path, FOLDERS.get(path, "x"), "bafyout", 3, 9, files, 1, 20, outputs)


def test_a_folders_key_differs_from_any_files_and_follows_the_spec() -> None:
    key = folder_keys(SPEC)
    assert key("bafya") != memo_keys(SPEC)("bafya")
    assert key("bafya") == folder_keys(replace(SPEC, input="elsewhere"))("bafya")
    assert key("bafya") != folder_keys(replace(SPEC, command="grep snow"))("bafya")


def test_only_the_outermost_remembered_folders_are_candidates() -> None:
    known = {"bafya": kept("", 5), "bafydeep": kept("", 2), "bafyc": kept("", 1)}
    chosen = candidates(FOLDERS, known)
    assert [k.path for k in chosen] == ["a", "c"]  # a/deep comes with a
    assert chosen[0].files == 5


def test_a_folder_whose_output_is_gone_anywhere_goes_file_by_file() -> None:
    folders = [kept("a", outputs=("o1", "o2")), kept("c", outputs=("o3",))]
    assert [k.path for k in still_held(folders, {"o1", "o3"})] == ["c"]


def test_files_and_folders_under_a_kept_folder_are_left_out() -> None:
    files = [InputFile(p, "x", 1) for p in ("a/1", "a/deep/2", "ab/3", "b/4", "top")]
    chosen = [kept("a")]
    assert [f.path for f in files_outside(files, chosen)] == ["ab/3", "b/4", "top"]
    assert outside(["a", "a/deep", "ab", "b"], chosen) == ["ab", "b"]
    assert files_outside(files, []) == files


def merged_folders(results: list[FileResult]) -> dict[str, tuple[str, int, int]]:
    outputs = [Output(r.path, r.output_cid or "", r.output_size, r.output_tsize) for r in results]
    return merge_per_file(outputs, list(FOLDERS)).folders


def test_folders_whose_every_file_succeeded_are_remembered_with_their_merged_output() -> None:
    results = [result("a/1"), result("a/deep/2", Outcome.NO_MATCH, 1), result("b/3")]
    results += [result("b/4", Outcome.EXITED, 2), result("top")]
    merged = merged_folders(results)
    fresh = to_remember(FOLDERS, results, [], merged, "bafymanifest", min_files=1)
    assert [k.path for k in fresh] == ["a", "a/deep"]  # b has a failure; c has no file
    a = fresh[0]
    assert (a.output_cid, a.size, a.tsize) == merged["a"]
    assert (a.files, a.no_match, a.bytes_in, a.manifest, a.origin) == (
        2,
        1,
        20,
        "bafymanifest",
        "a",
    )
    assert set(a.outputs) == {results[0].output_cid, results[1].output_cid}
    assert a.made() == {r.output_cid: "node-a" for r in results[:2]}  # whom to ask about each


def test_small_folders_and_unfinished_files_are_not_remembered() -> None:
    results = [result("a/1"), result("a/deep/2"), result("b/3", Outcome.TIMED_OUT, None)]
    assert to_remember(FOLDERS, results, [], merged_folders(results)) == []  # under MIN_FILES
    cut = to_remember(FOLDERS, results, [], merged_folders(results), min_files=1)
    assert [k.path for k in cut] == ["a", "a/deep"]


def test_a_folder_holding_a_kept_one_counts_its_files_and_outputs() -> None:
    inner = KeptFolder("a/deep", "bafydeep", "bafyinner", 4, 50, 3, 0, 30, ("o9",), makers=("n9",))
    results = [result("a/1")]
    fresh = to_remember(FOLDERS, results, [inner], {"a": ("bafyA", 5, 60)}, min_files=1)
    assert [k.path for k in fresh] == ["a"]  # the kept one itself is remembered already
    assert (fresh[0].files, fresh[0].bytes_in) == (4, 40)
    assert set(fresh[0].outputs) == {"o9", results[0].output_cid}
    assert fresh[0].made() == {"o9": "n9", results[0].output_cid: "node-a"}


def test_a_kept_folder_merges_into_the_same_tree_as_its_files() -> None:
    results = [result(p) for p in ("a/1", "a/deep/2", "b/3", "top")]
    outputs = [Output(r.path, r.output_cid or "", r.output_size, r.output_tsize) for r in results]
    full = merge_per_file(outputs, ["a", "a/deep", "b", "c"])
    cid, size, tsize = full.folders["a"]
    whole = [Output("a", cid, size, tsize)]
    rest = [o for o in outputs if not o.path.startswith("a/")]
    linked = merge_per_file(rest, ["b", "c"], whole)
    assert (linked.cid, linked.size, linked.tsize) == (full.cid, full.size, full.tsize)
    assert len(linked.blocks) == len(full.blocks) - 2  # a's two nodes are not built again


def test_a_kept_folder_round_trips_through_its_stored_form() -> None:
    folder = KeptFolder("x/y", "bafyin", "bafyout", 1, 2, 3, 4, 5, ("o1", "o2"), "bafym", "old")
    assert KeptFolder.from_dict(folder.as_dict(), "x/y") == folder
    assert folder.made() == {"o1": "", "o2": ""}  # remembered before makers were: ask every node
    made = replace(folder, makers=("n1", "n2"))
    assert KeptFolder.from_dict(made.as_dict(), "x/y").made() == {"o1": "n1", "o2": "n2"}
    assert KeptFolder.from_dict(folder.as_dict()).at("z") == replace(folder, path="z")
    assert folder.entry()["from"] == "old"
