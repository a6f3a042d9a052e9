"""The per-file vote of replicated runs (pure, no daemons)."""

from __future__ import annotations

from codsh.core.model import FileResult, Outcome
from codsh.core.vote import tally, vote


def ballot(
    node: str, cid: str | None, code: int | None = 0, outcome: Outcome = Outcome.OK
) -> FileResult:
    result = FileResult("a.log", "bafyin", 10, exit_code=code, output_cid=cid, node=node)
    result.outcome = outcome
    if outcome is not Outcome.OK:
        result.error = str(outcome)
    return result


def test_unanimous_replicas_agree() -> None:
    won = vote([ballot("n0", "X"), ballot("n1", "X"), ballot("n2", "X")], 3)
    assert won.ok and won.output_cid == "X" and won.node == "n0"
    assert won.vote == {"replicas": 3, "agreed": ["n0", "n1", "n2"], "outvoted": []}


def test_a_lying_node_is_outvoted() -> None:
    won = vote([ballot("n0", "X"), ballot("n1", "LIE"), ballot("n2", "X")], 3)
    assert won.output_cid == "X" and won.ok
    assert won.vote is not None
    assert won.vote["agreed"] == ["n0", "n2"] and won.vote["outvoted"] == ["n1"]
    assert [c["nodes"] for c in won.vote["candidates"]] == [["n0", "n2"], ["n1"]]


def test_no_strict_majority_is_disputed_and_left_out() -> None:
    disputed = vote([ballot("n0", "A"), ballot("n1", "B"), ballot("n2", "C")], 3)
    assert disputed.outcome is Outcome.DISPUTED and not disputed.ok
    assert disputed.output_cid is None and "no strict majority of the 3" in (disputed.error or "")
    assert disputed.vote is not None and len(disputed.vote["candidates"]) == 3
    even = vote([ballot("n0", "A"), ballot("n1", "B")], 2)
    assert even.outcome is Outcome.DISPUTED


def test_exit_codes_are_part_of_the_answer() -> None:
    won = vote(
        [
            ballot("n0", "E", 1, Outcome.EXITED),
            ballot("n1", "E", 0),
            ballot("n2", "E", 1, Outcome.EXITED),
        ],
        3,
    )
    assert won.outcome is Outcome.EXITED and won.vote is not None and won.vote["outvoted"] == ["n1"]


def test_a_node_counts_once_and_lost_replicas_are_not_ballots() -> None:
    twice = vote([ballot("n0", "LIE"), ballot("n0", "LIE"), ballot("n1", "X")], 3)
    assert twice.outcome is Outcome.INFRASTRUCTURE or twice.outcome is Outcome.DISPUTED
    assert twice.output_cid is None
    lost = ballot("n2", None, None, Outcome.INFRASTRUCTURE)
    majority = vote([ballot("n0", "X"), ballot("n1", "X"), lost], 3)
    assert majority.ok and majority.output_cid == "X"
    too_few = vote([ballot("n0", "X"), lost, ballot("n1", None, None, Outcome.INFRASTRUCTURE)], 3)
    assert too_few.outcome is Outcome.INFRASTRUCTURE and "only 1 of 3 replicas ran" in (
        too_few.error or ""
    )


def test_tally_counts_per_node() -> None:
    results = [
        vote([ballot("n0", "X"), ballot("n1", "LIE"), ballot("n2", "X")], 3),
        vote([ballot("n0", "A"), ballot("n1", "B"), ballot("n2", "C")], 3),
        vote([ballot("n0", "Y"), ballot("n1", "Y"), ballot("n2", "Y")], 3),
    ]
    assert tally((str(r.outcome), r.vote or {}) for r in results) == {
        "n0": {"run": 3, "agreed": 2, "outvoted": 0, "disputed": 1},
        "n1": {"run": 3, "agreed": 1, "outvoted": 1, "disputed": 1},
        "n2": {"run": 3, "agreed": 2, "outvoted": 0, "disputed": 1},
    }
