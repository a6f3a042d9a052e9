"""The memo end to end: reruns over the same or a grown input run only what they must.

The real CLI as a subprocess, real kubo, real Docker. Every test has a job store of its own (its own
CODSH_HOME), so memo entries never leak between tests; the kubo daemon (and so stored outputs) is
the session's. What a run reused is read three ways: the `reused` count of `--json`, the `reused`
field of `codsh job describe --json`, and the per-file `reused` flags of the manifest.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from codsh.core.model import path_order
from codsh.kubo_daemon import KuboProcess
from tests.commands.cli import Tree, add, cat, codsh, fetch
from tests.conftest import IpfsCall, ipfs_cli

N = 20  # files on day 1
NEW = "logs/f05b.txt"  # the file day 2 adds: in the middle of path order (after logs/f05.txt)
UPPER = "tr a-z A-Z"
DEFAULT_IMAGE = "codsh/busybox:latest"


# -- helpers ------------------------------------------------------------------------------------


def run_json(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    """A `codsh ...  --json` that ran (exit 0 or 1): its exit code and JSON record."""
    result = codsh(*args, "--json", env=env)
    assert result.code in (0, 1), result.err
    lines = result.lines
    assert len(lines) == 1, result.out
    return result.code, json.loads(lines[0])


def manifest(env: dict[str, str], record: dict[str, Any]) -> dict[str, Any]:
    job: dict[str, Any] = json.loads(cat(env, record["manifest"]))
    assert job["output"] == record["output"]
    return job


def ran(job: dict[str, Any]) -> set[str]:
    """The files a job actually ran (not reused), from its manifest."""
    return {f["path"] for f in job["files"] if not f["reused"]}


def reused(job: dict[str, Any]) -> set[str]:
    return {f["path"] for f in job["files"] if f["reused"]}


def describe(env: dict[str, str], job_id: str) -> dict[str, Any]:
    result = codsh("job", "describe", job_id, "--json", env=env)
    assert result.code == 0, result.err
    record: dict[str, Any] = json.loads(result.out)
    return record


def local_run(command: str, path: Path) -> bytes:
    with path.open("rb") as stdin:
        return subprocess.run(["sh", "-c", command], stdin=stdin, capture_output=True).stdout


def files_of(tree: Tree) -> list[str]:
    return sorted((p for p, data in tree.items() if data is not None), key=path_order)


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def home(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """`env` with an empty job store (and so an empty memo) of this test's own."""
    return {**env, "CODSH_HOME": str(tmp_path / "home")}


@pytest.fixture(scope="module")
def data_env(kubo: KuboProcess, codsh_home: Path) -> dict[str, str]:
    """For adding the module's shared inputs (adding touches no job store)."""
    return {**os.environ, "CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(codsh_home)}


@dataclass(frozen=True)
class Grown:
    v1: str  # N files
    v2: str  # the same N files plus NEW
    root: Path  # V2 on disk
    tree: Tree  # V2


@pytest.fixture(scope="module")
def grown(data_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Grown:
    base = tmp_path_factory.mktemp("grown")
    day1: Tree = {
        f"logs/f{i:02}.txt": f"reading {i} rain {i * 7 % 5}\nsecond line {i}\n".encode()
        for i in range(N)
    }
    day2: Tree = {**day1, NEW: b"the new reading\n"}
    v1 = add(data_env, base / "v1", day1)
    v2 = add(data_env, base / "v2", day2)
    assert v1 != v2
    return Grown(v1, v2, base / "v2", day2)


@pytest.fixture(scope="module")
def three(data_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> str:
    tree: Tree = {"a.txt": b"alpha\n", "b.txt": b"bravo\n", "sub/c.txt": b"charlie\n"}
    return add(data_env, tmp_path_factory.mktemp("three") / "in", tree)


@dataclass(frozen=True)
class Baseline:
    env: dict[str, str]  # a job store that remembers one run: UPPER over `three`
    record: dict[str, Any]


@pytest.fixture(scope="module")
def baseline(kubo: KuboProcess, three: str, tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    """Shared by the key tests: a run that misses records only under its own key, one that hits
    records nothing, so they do not see each other."""
    home = tmp_path_factory.mktemp("baseline-home")
    env = {**os.environ, "CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(home)}
    code, record = run_json(env, "run", "-e", UPPER, "-c", three)
    assert (code, record["files"], record["reused"]) == (0, 3, 0)
    return Baseline(env, record)


@pytest.fixture(scope="module")
def other_image(engine: docker.DockerClient, image_id: str) -> Iterator[str]:
    """An image with the same files as codsh/busybox but another ID (a label differs)."""
    tag = f"codsh-test/memo-{uuid.uuid4().hex[:10]}:latest"
    dockerfile = f"FROM {DEFAULT_IMAGE}\nLABEL org.codsh.test=memo-other-image\n"
    image, _ = engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    assert image.id != image_id
    try:
        yield tag
    finally:
        engine.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def alias_image(engine: docker.DockerClient, image_id: str) -> Iterator[str]:
    """Another name for codsh/busybox itself (same image ID)."""
    repository, tag = "codsh-test/memo-alias", uuid.uuid4().hex[:10]
    assert engine.images.get(image_id).tag(repository, tag)
    try:
        yield f"{repository}:{tag}"
    finally:
        engine.images.remove(f"{repository}:{tag}")  # only the tag: the image has others


# -- a rerun on a grown dataset runs only the new files -------------------------------------------


@pytest.mark.parametrize("mode", ["per-file", "concat"])
def test_grown_dataset_runs_only_the_new_file(
    home: dict[str, str], grown: Grown, tmp_path: Path, mode: str
) -> None:
    flags = ["--concat"] if mode == "concat" else []
    code, day1 = run_json(home, "run", "-e", UPPER, *flags, "-c", grown.v1)
    assert (code, day1["files"], day1["failed"], day1["reused"]) == (0, N, 0, 0)

    code, day2 = run_json(home, "run", "-e", UPPER, *flags, "-c", grown.v2)
    assert (code, day2["files"], day2["failed"], day2["reused"]) == (0, N + 1, 0, N)
    job = manifest(home, day2)
    assert ran(job) == {NEW}
    assert reused(job) == set(files_of(grown.tree)) - {NEW}
    assert job["summary"]["reused"] == N
    described = describe(home, day2["job"])
    assert (described["reused"], described["output"]) == (N, day2["output"])
    text = codsh("job", "describe", day2["job"], env=home).out.decode()
    assert f"{N + 1} (0 failed, {N} reused)" in text

    code, fresh = run_json(home, "run", "-e", UPPER, *flags, "--no-memo", "-c", grown.v2)
    assert (code, fresh["files"], fresh["reused"]) == (0, N + 1, 0)
    assert ran(manifest(home, fresh)) == set(files_of(grown.tree))
    assert fresh["output"] == day2["output"]

    # and the output is right, not merely the same twice
    expected = {p: local_run(UPPER, grown.root / p) for p in files_of(grown.tree)}
    if mode == "concat":
        assert cat(home, day2["output"]) == b"".join(expected.values())
    else:
        assert fetch(home, day2["output"], tmp_path / "out") == {"logs": None, **expected}


def test_per_file_results_serve_a_concat_run(home: dict[str, str], grown: Grown) -> None:
    """How outputs are merged is not part of a file's result: per-file results serve --concat."""
    code, per_file = run_json(home, "run", "-e", UPPER, "-c", grown.v1)
    assert (code, per_file["reused"]) == (0, 0)
    code, concat = run_json(home, "run", "-e", UPPER, "--concat", "-c", grown.v2)
    assert (code, concat["reused"]) == (0, N)
    assert ran(manifest(home, concat)) == {NEW}
    expected = b"".join(local_run(UPPER, grown.root / p) for p in files_of(grown.tree))
    assert cat(home, concat["output"]) == expected


def test_no_memo_runs_everything_but_still_records(home: dict[str, str], grown: Grown) -> None:
    code, fresh = run_json(home, "run", "-e", UPPER, "--no-memo", "-c", grown.v1)
    assert (code, fresh["files"], fresh["reused"]) == (0, N, 0)
    code, again = run_json(home, "run", "-e", UPPER, "-c", grown.v1)
    assert (code, again["reused"], again["output"]) == (0, N, fresh["output"])
    assert ran(manifest(home, again)) == set()
    code, forced = run_json(home, "run", "-e", UPPER, "--no-memo", "-c", grown.v1)
    assert (code, forced["reused"], forced["output"]) == (0, 0, fresh["output"])


# -- what is in the key --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "extra", "hit"),
    [
        pytest.param(f"{UPPER} | sed 's/^/> /'", [], False, id="another-command"),
        pytest.param(UPPER, ["--output-limit", "1m"], False, id="output-limit"),
        pytest.param(UPPER, ["--image", "other_image"], False, id="another-image"),
        pytest.param(UPPER, ["--timeout", "60"], True, id="timeout"),
        pytest.param(UPPER, ["--cpus", "0.5"], True, id="cpus"),
        pytest.param(UPPER, ["--image", "alias_image"], True, id="same-image-other-name"),
    ],
)
def test_what_changes_results_misses_the_memo(
    baseline: Baseline,
    three: str,
    request: pytest.FixtureRequest,
    command: str,
    extra: list[str],
    hit: bool,
) -> None:
    home, before = baseline.env, baseline.record
    if extra[:1] == ["--image"]:
        extra = ["--image", request.getfixturevalue(extra[1])]
    code, after = run_json(home, "run", "-e", command, *extra, "-c", three)
    assert (code, after["files"], after["reused"]) == (0, 3, 3 if hit else 0)
    if extra[:1] == ["--image"]:
        same_digest = after["spec"]["image_digest"] == before["spec"]["image_digest"]
        assert (after["spec"]["image"], same_digest) == (extra[1], hit)
    if command == UPPER:  # the same result either way
        assert after["output"] == before["output"]
    else:
        assert cat(home, f"{after['output']}/sub/c.txt") == b"> CHARLIE\n"


# -- identical inputs, failures, timeouts ----------------------------------------------------------


def test_identical_inputs_under_other_paths_run_once(home: dict[str, str], tmp_path: Path) -> None:
    same = b"identical bytes\n"
    tree: Tree = {"a/x.txt": same, "b/y.txt": same, "c.txt": b"other bytes\n"}
    source = add(home, tmp_path / "in", tree)
    # Prints a fresh random ID per run: two runs of the twins would give two different outputs.
    command = "cat; cat /proc/sys/kernel/random/uuid"
    code, record = run_json(home, "run", "-e", command, "-c", source)
    assert (code, record["files"], record["failed"], record["reused"]) == (0, 3, 0, 1)
    job = manifest(home, record)
    by_path = {f["path"]: f for f in job["files"]}
    assert ran(job) == {"a/x.txt", "c.txt"} and reused(job) == {"b/y.txt"}
    assert by_path["a/x.txt"]["output_cid"] == by_path["b/y.txt"]["output_cid"]
    assert by_path["a/x.txt"]["output_cid"] != by_path["c.txt"]["output_cid"]
    out = fetch(home, record["output"], tmp_path / "out")
    assert sorted(out) == ["a", "a/x.txt", "b", "b/y.txt", "c.txt"]
    assert out["a/x.txt"] == out["b/y.txt"] != out["c.txt"]
    assert out["a/x.txt"] is not None and out["a/x.txt"].startswith(same)
    assert len(out["a/x.txt"]) == len(same) + 37  # one uuid line


def test_non_zero_exit_is_remembered_and_still_fails(home: dict[str, str], tmp_path: Path) -> None:
    tree: Tree = {"a.txt": b"rain today\n", "b.txt": b"sun only\n", "c.txt": b"more rain\n"}
    source = add(home, tmp_path / "in", tree)
    strict = ("--ok-exit", "0")  # grep's "no match" fails: a non-zero exit to remember
    code, first = run_json(home, "run", "-e", "grep rain", *strict, "-c", source)
    assert (code, first["failed"], first["reused"]) == (1, 1, 0)

    code, again = run_json(home, "run", "-e", "grep rain", *strict, "-c", source)
    assert (code, again["files"], again["failed"], again["reused"]) == (1, 3, 1, 3)
    assert [f["path"] for f in again["failures"]] == ["b.txt"]
    assert again["failures"][0]["error"] == "exited with code 1"
    assert again["output"] == first["output"]
    job = manifest(home, again)
    assert ran(job) == set()
    b = next(f for f in job["files"] if f["path"] == "b.txt")
    assert (b["exit_code"], b["error"], b["reused"]) == (1, "exited with code 1", True)
    described = describe(home, again["job"])
    assert (described["state"], described["failed"], described["reused"]) == ("partial", 1, 3)

    text = codsh("run", "-e", "grep rain", *strict, "-c", source, env=home)
    assert text.code == 1
    assert text.cid == first["output"]
    assert "3 files, 2 ok, 1 failed, 3 reused" in text.err
    assert "failed 'b.txt': exited with code 1" in text.err


@pytest.mark.slow
def test_timed_out_file_is_not_remembered(home: dict[str, str], tmp_path: Path) -> None:
    tree: Tree = {"fast.txt": b"fast\n", "slow.txt": b"slow\n", "z.txt": b"zed\n"}
    source = add(home, tmp_path / "in", tree)
    command = "if grep -q slow; then sleep 3; fi; echo done"
    args = ("run", "-e", command, "--timeout", "1", "-c", source)
    code, first = run_json(home, *args)
    assert (code, first["failed"], first["reused"]) == (1, 1, 0)
    assert first["failures"][0]["path"] == "slow.txt"
    assert first["failures"][0]["error"].startswith("timed out after 1s")

    code, again = run_json(home, *args)
    assert (code, again["failed"], again["reused"]) == (1, 1, 2)
    assert ran(manifest(home, again)) == {"slow.txt"}  # it ran again (and timed out again)
    assert again["failures"][0]["error"].startswith("timed out after 1s")

    # the timeout is not in the key: with time enough, only the file that timed out runs
    code, enough = run_json(home, "run", "-e", command, "--timeout", "30", "-c", source)
    assert (code, enough["failed"], enough["reused"]) == (0, 0, 2)
    assert ran(manifest(home, enough)) == {"slow.txt"}
    assert cat(home, f"{enough['output']}/slow.txt") == b"done\n"


def test_output_no_longer_stored_is_recomputed(
    home: dict[str, str], tmp_path: Path, kubo: KuboProcess, ipfs_call: IpfsCall
) -> None:
    tag = (
        uuid.uuid4().hex
    )  # outputs no other test makes (gc must not take theirs, nor they keep ours)
    tree: Tree = {
        "a.txt": f"first {tag}\n".encode(),
        "b.txt": f"second {tag}\n".encode(),
        # already upper case: its output is its own input, which `codsh add` pinned: it stays
        "kept.txt": f"KEPT {tag.upper()}\n".encode(),
    }
    source = add(home, tmp_path / "in", tree)
    code, first = run_json(home, "run", "-e", UPPER, "-c", source)
    assert (code, first["reused"]) == (0, 0)
    outputs = {f["path"]: f["output_cid"] for f in manifest(home, first)["files"]}

    ipfs_cli(kubo, "pin", "rm", first["output"])
    ipfs_cli(kubo, "repo", "gc")

    def stored(cid: str) -> bool:
        return ipfs_call(lambda ipfs: ipfs.has_block(cid))

    assert not stored(first["output"])
    assert not stored(outputs["a.txt"]) and not stored(outputs["b.txt"])
    assert stored(outputs["kept.txt"])

    code, again = run_json(home, "run", "-e", UPPER, "-c", source)
    assert (code, again["failed"], again["reused"]) == (0, 0, 1)
    assert ran(manifest(home, again)) == {"a.txt", "b.txt"}
    assert again["output"] == first["output"]
    assert cat(home, f"{again['output']}/a.txt") == f"FIRST {tag.upper()}\n".encode()
    assert stored(outputs["a.txt"])


# -- a named nightly job on a growing dataset --------------------------------------------------


def test_nightly_named_job_on_a_growing_dataset(home: dict[str, str], tmp_path: Path) -> None:
    day1: Tree = {f"2026-11-{d:02}.csv": f"2026-11-{d:02},Lisbon,{d}\n".encode() for d in (1, 2, 3)}
    day2: Tree = {**day1, "2026-11-04.csv": b"2026-11-04,Porto,4\n", "late/x.csv": b"x,Faro,5\n"}
    v1 = add(home, tmp_path / "v1", day1)
    v2 = add(home, tmp_path / "v2", day2)
    command = "cut -d, -f2"

    first = codsh("job", "submit", "-e", command, "-c", v1, "--name", "nightly", "--json", env=home)
    assert first.code == 0, first.err
    day1_run = json.loads(first.out)
    assert (day1_run["files"], day1_run["reused"]) == (3, 0)
    other = codsh("run", "-e", "cat", "-c", v1, env=home)  # an unnamed job in between
    assert other.code == 0, other.err

    second = codsh(
        "job", "submit", "-e", command, "-c", v2, "--name", "nightly", "--json", env=home
    )
    assert second.code == 0, second.err
    day2_run = json.loads(second.out)
    assert (day2_run["files"], day2_run["reused"]) == (5, 3)
    assert ran(manifest(home, day2_run)) == {"2026-11-04.csv", "late/x.csv"}

    latest = describe(home, "nightly")
    assert latest["id"] == day2_run["job"] and latest["id"] != day1_run["job"]
    assert (latest["name"], latest["input"], latest["output"]) == (
        "nightly",
        v2,
        day2_run["output"],
    )
    assert (latest["reused"], latest["files"]) == (3, 5)
    text = codsh("job", "describe", "nightly", env=home).out.decode()
    assert f"id:        {day2_run['job']}" in text and "name:      nightly" in text

    listed = codsh("job", "list", "--name", "nightly", "--json", env=home)
    assert listed.code == 0, listed.err
    runs = [json.loads(line) for line in listed.lines]
    assert [r["id"] for r in runs] == [day2_run["job"], day1_run["job"]]  # newest first
    assert [r["input"] for r in runs] == [v2, v1]
    assert [r["reused"] for r in runs] == [3, 0]


def test_no_memo_runs_identical_inputs_too(home: dict[str, str], tmp_path: Path) -> None:
    tree: Tree = {"a/x.txt": b"twin\n", "b/y.txt": b"twin\n"}
    source = add(home, tmp_path / "in", tree)
    command = "cat /proc/sys/kernel/random/uuid"
    code, record = run_json(home, "run", "-e", command, "--no-memo", "-c", source)
    assert code == 0
    assert ran(manifest(home, record)) == {"a/x.txt", "b/y.txt"}
    assert record["reused"] == 0
