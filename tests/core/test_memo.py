"""Memo keys, what may be reused, and identical inputs: pure logic, no daemons."""

from __future__ import annotations

from dataclasses import replace

import pytest

from codsh.core.memo import (
    RETRIED_ON_RESUME,
    distinct,
    kept_on_resume,
    may_run,
    memo_key,
    memo_keys,
    reusable,
    reuse,
    split,
    with_twins,
)
from codsh.core.model import (
    FileResult,
    InputFile,
    Outcome,
    exit_error,
    memory_error,
    output_error,
)
from codsh.core.spec import CONCAT, JobSpec, Limits

INPUT = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
FETCH = Outcome.FETCH_FAILED
SPEC = JobSpec("grep rain", "bafyroot/dir", image_digest="sha256:aaa")


def ran(
    exit_code: int | None = 0,
    error: str | None = None,
    output: str | None = "bafkout",
    outcome: Outcome = Outcome.OK,
) -> FileResult:
    return FileResult("a.txt", INPUT, 10, exit_code, output, 5, 5, error=error, outcome=outcome)


def test_the_key_is_stable_and_ignores_where_the_input_sits_and_how_outputs_merge() -> None:
    key = memo_key(SPEC, INPUT)
    assert key == memo_key(JobSpec("grep rain", "bafyother", image_digest="sha256:aaa"), INPUT)
    assert key == memo_key(replace(SPEC, mode=CONCAT), INPUT)
    assert key == memo_key(replace(SPEC, image="another:tag"), INPUT)  # the digest stands for it
    assert len(key) == 64


def test_keys_stay_those_remembered_before_the_spec_part_was_written_once() -> None:
    """Pinned digests (KEY_VERSION 3, computed by the one-call key): a memo kept on disk stays
    valid; the many-keys form gives the same key as the one-call form."""
    assert memo_key(SPEC, INPUT) == (
        "600addff41aa6eef1154243f18946abfeabf33f8f1d14a14afc42b32213bbbac"
    )
    assert memo_keys(SPEC)('odd "cid" \u00e9') == (
        "e54062f3f831ee6970c1a384af83520f456185e7d40d5215b7e86e5ac8e1a9b5"
    )


def test_limits_that_only_decide_whether_a_run_finishes_are_not_in_the_key() -> None:
    key = memo_key(SPEC, INPUT)
    assert key == memo_key(replace(SPEC, limits=Limits(timeout=5, cpus=0.5)), INPUT)


@pytest.mark.parametrize(
    "changed",
    [
        replace(SPEC, command="grep snow"),
        replace(SPEC, command="grep  rain"),  # the text runs under sh: not normalised away
        replace(SPEC, image_digest="sha256:bbb"),
        replace(SPEC, limits=Limits(output=10)),
        replace(SPEC, limits=Limits(memory=2**20)),
        replace(SPEC, limits=Limits(pids=2)),
        replace(SPEC, limits=Limits(stderr=1)),
    ],
)
def test_whatever_may_change_a_result_is_in_the_key(changed: JobSpec) -> None:
    assert memo_key(changed, INPUT) != memo_key(SPEC, INPUT)


def test_another_input_file_is_another_key() -> None:
    assert memo_key(SPEC, INPUT) != memo_key(SPEC, "bafkreiother")


def test_without_a_digest_the_image_name_counts() -> None:
    plain = JobSpec("cat", "bafyroot", image="a:1")
    assert memo_key(plain, INPUT) != memo_key(replace(plain, image="b:1"), INPUT)


def test_finished_runs_are_reusable_even_when_the_command_failed() -> None:
    assert reusable(ran())
    assert reusable(
        ran(1, exit_error(1), outcome=Outcome.EXITED)
    )  # grep found nothing: it will again


@pytest.mark.parametrize(
    "result",
    [
        ran(None, "timed out after 5s (the container was killed)", outcome=Outcome.TIMED_OUT),
        ran(137, exit_error(137), outcome=Outcome.EXITED),  # SIGKILL (the OOM killer): a signal
        ran(137, memory_error(2**20), outcome=Outcome.OUT_OF_MEMORY),
        ran(0, output_error(10), outcome=Outcome.OUTPUT_CUT),
        ran(0, output=None),
        ran(1, "exited with code 1; could not read the input from kubo: gone", outcome=FETCH),
        ran(0, "no output was recorded", outcome=Outcome.INFRASTRUCTURE),
        replace(ran(), reused=True),  # already remembered
    ],
)
def test_results_that_depend_on_more_than_the_input_are_not_kept(result: FileResult) -> None:
    assert not reusable(result)


def test_a_reused_result_takes_the_path_of_the_file_it_stands_for() -> None:
    other = InputFile("b/same bytes.txt", INPUT, 10)
    copy = reuse(ran(), other)
    assert (copy.path, copy.input_cid, copy.reused) == ("b/same bytes.txt", INPUT, True)
    assert (copy.output_cid, copy.exit_code) == ("bafkout", 0)


def test_identical_inputs_run_once_and_share_the_result() -> None:
    files = [
        InputFile("a", "cid1", 1),
        InputFile("b", "cid2", 1),
        InputFile("c", "cid1", 1),
        InputFile("d", "cid1", 1),
    ]
    todo, twins = distinct(files)
    assert [f.path for f in todo] == ["a", "b"]
    assert {cid: [f.path for f in group] for cid, group in twins.items()} == {"cid1": ["c", "d"]}
    first = FileResult("a", "cid1", 1, 0, "bafkout", 3, 3)
    copies = with_twins([first, FileResult("b", "cid2", 1, 0, "bafkb", 1, 1)], twins)
    assert [(c.path, c.output_cid, c.reused) for c in copies] == [
        ("c", "bafkout", True),
        ("d", "bafkout", True),
    ]


# -- what a resume keeps (issue 16, finding 10) -------------------------------------------------

BELOW_THE_COMMAND = [Outcome.INFRASTRUCTURE, Outcome.CONTAINER_LOST, Outcome.FETCH_FAILED]


def recorded(path: str, outcome: Outcome) -> FileResult:
    """A result an earlier run of the job recorded for `path` (its input CID is `cid-<path>`)."""
    failed = None if outcome in (Outcome.OK, Outcome.NO_MATCH) else f"{outcome}"
    return FileResult(path, f"cid-{path}", 1, error=failed, outcome=outcome)


def test_a_resume_runs_again_only_the_files_whose_infrastructure_failed() -> None:
    """Every outcome recorded once: the files that failed below the command are to do again; the
    command's own results (success, an exit, a timeout, a limit, a trap) are kept."""
    outcomes = list(Outcome)
    files = [InputFile(f"f{i}", f"cid-f{i}", 1) for i in range(len(outcomes))]
    done = {f.path: recorded(f.path, o) for f, o in zip(files, outcomes, strict=True)}
    work = split(files, done, {}, set())
    again = {done[f.path].outcome for f in work.todo}
    assert again == set(BELOW_THE_COMMAND) == RETRIED_ON_RESUME
    assert {r.outcome for r in work.kept} == set(outcomes) - again
    assert len(work.todo) + len(work.kept) == len(files)


@pytest.mark.parametrize("outcome", list(Outcome))
def test_kept_on_resume_is_whether_the_command_decided_the_result(outcome: Outcome) -> None:
    assert kept_on_resume(recorded("a", outcome)) is (outcome not in BELOW_THE_COMMAND)


def test_a_kept_result_of_other_input_bytes_is_not_kept() -> None:
    """The path holds other bytes now (a job's input is a CID, but the check stays): it runs."""
    file = InputFile("a", "cid-new", 1)
    work = split([file], {"a": recorded("a", Outcome.OK)}, {}, set())
    assert work.todo == [file] and work.kept == []


def test_only_the_files_that_may_run_have_their_holders_asked() -> None:
    """A file kept from an earlier run or with a remembered output needs no holder found; the
    others may run. A file whose remembered output turns out gone runs too, which is known only
    after the nodes answer (run.py then asks again)."""
    files = [InputFile(p, f"cid-{p}", 1) for p in ("new", "resumed", "retried", "memo", "twin")]
    files.append(InputFile("memo-twin", "cid-memo", 1))
    done = {"resumed": recorded("resumed", Outcome.OK)}
    done["retried"] = recorded("retried", Outcome.CONTAINER_LOST)
    known = {"cid-memo": replace(ran(), input_cid="cid-memo", output_cid="bafkmemo")}
    known["cid-twin"] = replace(ran(), input_cid="cid-twin", output_cid=None)
    asked = may_run(files, done, known)
    assert asked == ["cid-new", "cid-retried", "cid-twin"]
    held = split(files, done, known, {"bafkmemo"})
    assert sorted(f.cid for f in held.todo) == asked  # what runs is exactly what was asked
    gone = split(files, done, known, set())
    assert {f.cid for f in gone.todo} - set(asked) == {"cid-memo"}  # known only after the round


def test_a_sampled_jobs_results_are_kept_apart() -> None:
    """--verify runs most files once: its results must not satisfy a job that votes on all."""
    sampled = replace(SPEC, replicas=3, verify=0.1)
    assert memo_key(sampled, INPUT) != memo_key(replace(SPEC, replicas=3), INPUT)
