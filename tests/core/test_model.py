"""The file result and its typed outcome (codsh/core/model.py): pure logic, no daemons."""

from __future__ import annotations

import json

import pytest

from codsh.core.memo import reusable
from codsh.core.model import (
    FileResult,
    InputFile,
    Outcome,
    exit_error,
    memory_error,
    output_error,
    timeout_error,
    worst,
)

CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def result(exit_code: int | None = 0, output: str | None = "bafkout") -> FileResult:
    return FileResult("logs/a.txt", CID, 10, exit_code, output, 5, 5)


def test_a_fresh_result_is_ok_and_ran() -> None:
    fresh = result()
    assert fresh.outcome is Outcome.OK and fresh.error is None
    assert fresh.ok and fresh.ran


def test_a_command_that_exits_non_zero_ran_but_is_not_ok() -> None:
    exited = result(1)
    exited.fail(Outcome.EXITED, exit_error(1))
    assert (exited.outcome, exited.error) == (Outcome.EXITED, "exited with code 1")
    assert not exited.ok and exited.ran


def test_an_output_cut_outranks_the_exit_and_the_messages_are_joined() -> None:
    """A command that exited 1 with its output cut at the limit is OUTPUT_CUT, both said."""
    both = result(1)
    both.fail(Outcome.EXITED, exit_error(1))
    both.fail(Outcome.OUTPUT_CUT, output_error(10))
    assert both.outcome is Outcome.OUTPUT_CUT
    assert (
        both.error
        == "exited with code 1; output larger than the limit (10 bytes); kept the first part"
    )

    other_order = result(1)
    other_order.fail(Outcome.OUTPUT_CUT, output_error(10))
    other_order.fail(Outcome.EXITED, exit_error(1))
    assert other_order.outcome is Outcome.OUTPUT_CUT  # the worse one wins, whatever came first


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([], Outcome.OK),
        ([Outcome.OK], Outcome.OK),
        ([Outcome.EXITED, Outcome.OUT_OF_MEMORY], Outcome.OUT_OF_MEMORY),
        ([Outcome.OUTPUT_CUT, Outcome.FETCH_FAILED], Outcome.FETCH_FAILED),
        ([Outcome.OUTPUT_CUT, Outcome.TIMED_OUT, Outcome.CONTAINER_LOST], Outcome.TIMED_OUT),
        ([Outcome.TIMED_OUT, Outcome.INFRASTRUCTURE, Outcome.EXITED], Outcome.INFRASTRUCTURE),
    ],
)
def test_the_worst_outcome_decides(outcomes: list[Outcome], expected: Outcome) -> None:
    assert worst(outcomes) is expected


def test_a_lost_file_did_not_run() -> None:
    lost = FileResult.lost(InputFile("x", CID, 3), Outcome.INFRASTRUCTURE, "node left", "n1")
    assert (lost.path, lost.input_cid, lost.input_size, lost.node) == ("x", CID, 3, "n1")
    assert (lost.exit_code, lost.output_cid, lost.error) == (None, None, "node left")
    assert not lost.ok and not lost.ran


def test_a_timeout_ran_though_it_did_not_finish() -> None:
    timed_out = result(None)
    timed_out.fail(Outcome.TIMED_OUT, timeout_error(2, "the container was killed"))
    assert timed_out.error == "timed out after 2s (the container was killed)"
    assert timed_out.ran and not timed_out.ok


def test_as_dict_and_from_dict_round_trip_through_json() -> None:
    original = result(1)
    original.fail(Outcome.EXITED, exit_error(1))
    original.stderr, original.node, original.fuel, original.seconds = "oops\n", "n2", 7, 0.25
    entry = json.loads(json.dumps(original.as_dict()))
    assert entry["outcome"] == "exited"  # a plain string in JSON
    assert FileResult.from_dict(entry) == original
    assert FileResult.from_dict({**entry, "added_later": 1}) == original  # unknown keys ignored


def test_a_record_missing_fields_added_since_gets_their_defaults() -> None:
    entry = result().as_dict()
    del entry["fuel"], entry["replica_use"]
    decoded = FileResult.from_dict(entry)
    assert decoded == result() and decoded.fuel == 0 and decoded.replica_use is None


def test_a_copy_is_equal_and_changing_it_leaves_the_original() -> None:
    original = result()
    copied = original.copy()
    assert copied == original and copied is not original
    copied.path, copied.reused = "other.txt", True
    assert (original.path, original.reused) == ("logs/a.txt", False)


def legacy(error: str | None, exit_code: int | None, output: str | None = "bafkout") -> FileResult:
    """A record written before outcomes were typed: no "outcome" key."""
    entry = result(exit_code, output).as_dict()
    del entry["outcome"]
    return FileResult.from_dict({**entry, "error": error})


def test_a_legacy_record_without_an_error_is_ok() -> None:
    old = legacy(None, 0)
    assert old.outcome is Outcome.OK and reusable(old)


def test_a_legacy_non_zero_exit_is_exited_and_still_reusable() -> None:
    old = legacy("exited with code 1", 1)
    assert old.outcome is Outcome.EXITED and reusable(old)


def test_a_legacy_137_is_out_of_memory() -> None:
    assert legacy("exited with code 137", 137).outcome is Outcome.OUT_OF_MEMORY


@pytest.mark.parametrize(
    "error",
    [
        "timed out after 5s (the container was killed)",
        output_error(10),  # its exit code was 0 and it has an output: only the message says
        "exited with code 1",  # the message does not match its exit code (0)
        "cannot start the job container: no space left",
    ],
)
def test_any_other_legacy_failure_is_never_reused(error: str) -> None:
    old = legacy(error, 0)
    assert not old.ok and not reusable(old)


@pytest.mark.parametrize(
    ("limit", "size"),
    [(64 * 1024**2, "64m"), (2 * 1024**3, "2g"), (1536 * 1024, "1536k"), (1000, "1000 bytes")],
)
def test_the_memory_message_names_the_limit(limit: int, size: str) -> None:
    assert memory_error(limit) == f"killed at the memory limit ({size}; exit code 137)"
