"""`codsh pipe`: a multi-stage pipeline in one command, end to end (real CLI, kubo and Docker).

The pipe must give what the same stages give as chained `codsh run`s: the very same CIDs stage by
stage with --no-fuse, the same final output when adjacent per-file stages run fused. Its record
(`codsh job describe PIPE_ID`) keeps each stage's input and output CIDs, and what each stage lost.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.commands.cli import Tree, add, assert_usage_error, cat, codsh, fetch, write_tree
from tests.commands.test_chain_cli import STAGES, WEATHER, local_pipeline

EMPTY_DIR_CID = "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
GREP, CUT, COUNT = STAGES
PIPE_STAGES = (GREP, CUT, "--concat", COUNT)
RAINY: Tree = {"a.txt": b"rain\nrain\nsun\n", "b.txt": b"sun only\n", "sub/c.txt": b"more rain\n"}


def new_home(env: dict[str, str], path: Path) -> dict[str, str]:
    """`env` with an empty job store (and memo) at `path`."""
    return {**env, "CODSH_HOME": str(path)}


def pipe_json(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    """`codsh pipe --json ARGS` that ran (exit 0 or 1): its exit code and JSON record."""
    result = codsh("pipe", "--json", *args, env=env)
    assert result.code in (0, 1), result.err
    assert len(result.lines) == 1, result.out
    record: dict[str, Any] = json.loads(result.out)
    assert set(record) >= {"job", "output", "failed", "stages"}
    return result.code, record


def describe(env: dict[str, str], job_id: str) -> dict[str, Any]:
    result = codsh("job", "describe", job_id, "--json", env=env)
    assert result.code == 0, result.err
    record: dict[str, Any] = json.loads(result.out)
    return record


def latest_pipeline(env: dict[str, str]) -> dict[str, Any]:
    """The record of the newest pipeline (`job list` shows its stages' jobs too)."""
    listed = codsh("job", "list", "--json", env=env)
    assert listed.code == 0, listed.err
    pipelines = [r for r in map(json.loads, listed.lines) if r["mode"] == "pipeline"]
    return describe(env, pipelines[0]["id"])


def column(stages: list[dict[str, Any]], key: str) -> list[Any]:
    return [stage[key] for stage in stages]


@pytest.fixture(scope="module")
def weather(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tree(tmp_path_factory.mktemp("weather") / "weather", WEATHER)


def test_pipe_gives_what_chained_runs_give(
    env: dict[str, str], weather: Path, tmp_path: Path
) -> None:
    source = add(env, weather)

    # the chain, one `codsh run` per stage
    chain = new_home(env, tmp_path / "chain")
    r1 = codsh("run", "-e", GREP, "-c", source, env=chain)
    r2 = codsh("run", "-e", CUT, "--concat", "-c", r1.cid, env=chain)
    r3 = codsh("run", "-e", COUNT, "-c", r2.cid, env=chain)
    assert (r1.code, r2.code, r3.code) == (0, 0, 0), r3.err
    expected = local_pipeline(weather)
    assert cat(chain, r3.cid) == expected

    # --no-fuse: every stage its own job, the very same CIDs stage by stage
    unfused_home = new_home(env, tmp_path / "unfused")
    code, unfused = pipe_json(unfused_home, "--no-fuse", "-c", source, *PIPE_STAGES)
    assert (code, unfused["output"], unfused["failed"]) == (0, r3.cid, 0)
    pipe_id = unfused["job"]
    stages = unfused["stages"]
    assert column(stages, "stage") == [1, 2, 3]
    assert column(stages, "job") == [f"{pipe_id}-1", f"{pipe_id}-2", f"{pipe_id}-3"]
    assert column(stages, "command") == [GREP, f"{CUT} --concat", COUNT]
    assert column(stages, "input") == [source, r1.cid, r2.cid]
    assert column(stages, "output") == [r1.cid, r2.cid, r3.cid]
    assert column(stages, "files") == [5, 5, 1]
    assert column(stages, "failed") == [0, 0, 0]
    assert column(stages, "reused") == [0, 0, 0]

    record = describe(unfused_home, pipe_id)
    assert (record["mode"], record["state"], record["input"]) == ("pipeline", "succeeded", source)
    assert (record["output"], record["failed"], record["reused"]) == (r3.cid, 0, 0)
    assert record["stages"] == stages
    assert record["manifest"] == stages[-1]["manifest"]
    text = codsh("job", "describe", pipe_id, env=unfused_home).out.decode()
    for stage in stages:
        assert f"stage {stage['stage']}:   {stage['command']}  [job {stage['job']}]" in text
        assert f"{stage['input']} -> {stage['output']}  (" in text
    second = describe(unfused_home, f"{pipe_id}-2")  # each stage is a job of its own
    assert (second["command"], second["mode"]) == (CUT, "concat")
    assert (second["input"], second["output"]) == (r1.cid, r2.cid)
    resumed = codsh("job", "resume", pipe_id, env=unfused_home)
    assert_usage_error(resumed, f"job {pipe_id} already succeeded")

    # fused (the default): grep and cut run as one step, the same final bytes
    fused_home = new_home(env, tmp_path / "fused")
    code, fused = pipe_json(fused_home, "-c", source, *PIPE_STAGES)
    assert code == 0
    assert cat(fused_home, fused["output"]) == expected
    assert fused["output"] == r3.cid  # one file, added with the canonical settings
    steps = fused["stages"]
    assert column(steps, "job") == [f"{fused['job']}-1", f"{fused['job']}-2"]
    assert column(steps, "command") == [f"{GREP} | {CUT} --concat", COUNT]
    assert column(steps, "input") == [source, steps[0]["output"]]
    assert column(steps, "output")[-1] == fused["output"]
    assert column(steps, "files") == [5, 1]
    assert column(steps, "reused") == [0, 0]
    assert describe(fused_home, fused["job"])["stages"] == steps

    # the same pipe again: everything comes from the memo
    again = codsh("pipe", "-c", source, *PIPE_STAGES, env=fused_home)
    assert again.code == 0, again.err
    assert again.cid == fused["output"]
    rerun = latest_pipeline(fused_home)
    assert rerun["id"] != fused["job"]
    assert column(rerun["stages"], "reused") == [5, 1]
    assert column(rerun["stages"], "output") == column(steps, "output")
    assert rerun["reused"] == 6


@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "no-fuse"])
def test_a_stage_that_fails_on_some_files_hands_its_partial_output_on(
    env: dict[str, str], tmp_path: Path, fuse: bool
) -> None:
    home = new_home(env, tmp_path / "home")
    source = add(home, tmp_path / "in", RAINY)
    args = (
        ("--ok-exit", "0", "-c", source, "grep rain", "wc -l")
        if fuse
        else ("--no-fuse", "--ok-exit", "0", "-c", source, "grep rain", "wc -l")
    )

    result = codsh("pipe", *args, env=home)
    assert result.code == 1, result.err
    assert "stage 1 lost 1 files" in result.err
    assert fetch(home, result.cid, tmp_path / "out") == {
        "a.txt": b"2\n",
        "b.txt": b"0\n",  # no rain: grep failed, its empty output went on to wc
        "sub": None,
        "sub/c.txt": b"1\n",
    }
    record = latest_pipeline(home)
    assert (record["state"], record["output"], record["failed"]) == ("partial", result.cid, 1)
    assert column(record["stages"], "failed") == ([1] if fuse else [1, 0])
    assert column(record["stages"], "files") == ([3] if fuse else [3, 3])
    text = codsh("job", "describe", record["id"], env=home).out.decode()
    assert "(3 files, 1 failed, 0 reused)" in text
    stage_one = describe(home, f"{record['id']}-1")
    assert stage_one["failures"] == [{"path": "b.txt", "node": "", "error": "exited with code 1"}]

    resumed = codsh("job", "resume", record["id"], env=home)
    assert_usage_error(resumed, "is a pipeline", "run the same `codsh pipe` again")

    code, again = pipe_json(home, *args)
    assert (code, again["output"], again["failed"]) == (1, result.cid, 1)
    assert column(again["stages"], "reused") == ([3] if fuse else [3, 3])
    assert column(again["stages"], "failed") == ([1] if fuse else [1, 0])


@pytest.mark.parametrize(
    ("stages", "words"),
    [
        pytest.param([""], ["stage 1 is empty"], id="empty-stage"),
        pytest.param(["grep a", "  "], ["stage 2 is empty"], id="blank-second-stage"),
        pytest.param(["--concat", "cat"], ["--concat comes before any stage"], id="concat-first"),
        pytest.param(
            ["cat", "--concat", "--concat"], ["--concat is given twice"], id="concat-twice"
        ),
        pytest.param(["grep a", "--bogus"], ["unknown option '--bogus'"], id="bogus-option"),
        pytest.param(
            ["grep 'a"], ["cannot parse the command", "No closing quotation"], id="unbalanced-quote"
        ),
        pytest.param([], ["no stages given"], id="no-stages"),
    ],
)
def test_bad_stages_are_usage_errors(
    env: dict[str, str], tmp_path: Path, stages: list[str], words: list[str]
) -> None:
    home = new_home(env, tmp_path / "home")
    assert_usage_error(codsh("pipe", "-c", EMPTY_DIR_CID, *stages, env=home), *words)
    assert codsh("job", "list", "--json", env=home).out == b""  # nothing was recorded


def test_options_may_follow_the_stages(env: dict[str, str], tmp_path: Path) -> None:
    home = new_home(env, tmp_path / "home")
    source = add(home, tmp_path / "in", {"a.txt": b"a\n", "b.txt": b"b\n"})
    code, record = pipe_json(home, "tr a-z A-Z", "-c", source, "--no-fuse")
    assert code == 0
    assert column(record["stages"], "input") == [source]
    assert cat(home, f"{record['output']}/b.txt") == b"B\n"


def test_unknown_short_option_among_stages_is_a_usage_error(
    env: dict[str, str], tmp_path: Path
) -> None:
    home = new_home(env, tmp_path / "home")
    source = add(home, tmp_path / "in", {"a.txt": b"a\n"})
    result = codsh("pipe", "-c", source, "cat", "-x", env=home)
    assert_usage_error(result, "-x")


def test_pipeline_never_reports_more_failed_files_than_files(
    env: dict[str, str], tmp_path: Path
) -> None:
    home = new_home(env, tmp_path / "home")
    source = add(home, tmp_path / "in", RAINY)
    code, record = pipe_json(
        home, "--no-fuse", "--ok-exit", "0", "-c", source, "grep rain", "grep nothing-matches"
    )
    assert code == 1
    assert column(record["stages"], "failed") == [1, 3]
    described = describe(home, record["job"])
    assert described["failed"] <= described["files"] == 3
