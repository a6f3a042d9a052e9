"""Commit before reveal (pure, no daemons): a sealed answer hides its output, opens only with its
own opening for its own node, and the vote outvotes a node that copied or cannot open."""

from __future__ import annotations

from dataclasses import replace

from codsh.core.bill import Meter, PriceList, bill
from codsh.core.commit import Opening, seal, unseal
from codsh.core.model import FileResult
from codsh.core.vote import BROKEN_COPY, BROKEN_OPENING, Ballots, tally

JOB = "job1"


def answer(node: str, cid: str | None = "X", path: str = "a.log") -> FileResult:
    return FileResult(path, "bafyin", 10, exit_code=0, output_cid=cid, output_size=3, node=node)


def sealed(node: str, cid: str = "X", path: str = "a.log") -> tuple[FileResult, Opening]:
    return seal(answer(node, cid, path), JOB, node, f"nonce-{node}")


def test_a_sealed_answer_hides_its_output_and_opens_with_its_opening() -> None:
    out, opening = sealed("n0")
    assert out.output_cid is None and out.output_size == 0 and out.commitment
    assert "X" not in out.commitment
    opened = unseal(out, opening, JOB)
    assert opened is not None and opened.output_cid == "X" and opened.output_size == 3


def test_an_opening_is_bound_to_its_node_job_and_answer() -> None:
    out, opening = sealed("n0")
    assert unseal(replace(out, node="n1"), opening, JOB) is None  # another node sent it
    assert unseal(out, opening, "job2") is None
    assert unseal(out, replace(opening, output_cid="LIE"), JOB) is None
    assert unseal(replace(out, exit_code=1), opening, JOB) is None
    assert unseal(out, None, JOB) is None
    assert Opening.from_dict({"nonce": 1}) is None  # a node's malformed answer


def vote_on(ballots: list[FileResult], openings: dict[str, dict[str, Opening]]) -> FileResult:
    decided: list[FileResult] = []
    box = Ballots(3, decided.append, JOB)
    for ballot in ballots:
        box.add(ballot)
    assert list(box.take_ready()) == ["a.log"] and not decided  # nothing decided unopened
    box.decide("a.log", openings)
    assert len(decided) == 1
    return decided[0]


def test_a_copied_commitment_is_caught_and_outvoted() -> None:
    (a, oa), (b, ob) = sealed("n0"), sealed("n1")
    copy = replace(b, node="n2")  # n2 read n1's message and sent it as its own
    won = vote_on([a, b, copy], {"n0": {a.commitment or "": oa}, "n1": {b.commitment or "": ob}})
    assert won.ok and won.output_cid == "X"
    assert won.vote is not None and won.vote["agreed"] == ["n0", "n1"]
    assert won.vote["outvoted"] == ["n2"]
    assert won.vote["broken"] == [{"node": "n2", "why": BROKEN_COPY}]
    counts = tally([(str(won.outcome), won.vote)])
    assert counts["n2"] == {"run": 1, "agreed": 0, "outvoted": 1, "disputed": 0}


def test_a_stolen_opening_does_not_open_a_copy() -> None:
    (a, oa), (b, ob) = sealed("n0"), sealed("n1")
    copy = replace(b, node="n2")
    stolen = {"n0": {a.commitment or "": oa}, "n1": {b.commitment or "": ob}}
    won = vote_on([a, b, copy], {**stolen, "n2": {b.commitment or "": ob}})
    assert won.vote is not None and won.vote["broken"] == [{"node": "n2", "why": BROKEN_OPENING}]


def test_an_unopened_commitment_is_a_lost_run_not_a_lie() -> None:
    (a, oa), (b, ob), (c, _) = sealed("n0"), sealed("n1"), sealed("n2")
    won = vote_on([a, b, c], {"n0": {a.commitment or "": oa}, "n1": {b.commitment or "": ob}})
    assert won.ok and won.vote is not None and "broken" not in won.vote
    assert won.vote["agreed"] == ["n0", "n1"] and won.vote["outvoted"] == []


def test_a_lie_behind_a_valid_commitment_is_outvoted() -> None:
    (a, oa), (b, ob), (c, oc) = sealed("n0"), sealed("n1", "LIE"), sealed("n2")
    openings = {
        n: {s.commitment or "": o} for n, s, o in [("n0", a, oa), ("n1", b, ob), ("n2", c, oc)]
    }
    won = vote_on([a, b, c], openings)
    assert won.output_cid == "X" and won.vote is not None and won.vote["outvoted"] == ["n1"]


def test_unsealed_ballots_are_voted_at_once_and_late_ones_ignored() -> None:
    decided: list[FileResult] = []
    box = Ballots(2, decided.append, JOB, counts={"b.log": 1})
    box.add(answer("n0", path="b.log"))  # sampled verification: b.log runs once
    assert [r.path for r in decided] == ["b.log"] and decided[0].vote is None
    box.add(answer("n0"))
    box.add(answer("n1"))
    assert len(decided) == 2 and decided[1].vote is not None
    box.add(answer("n2"))  # a rescheduled run after the vote
    assert len(decided) == 2 and box.close() == decided


def test_a_node_that_broke_the_protocol_is_not_paid() -> None:
    lists = {n: PriceList(1, 0, 0, 0) for n in ("n0", "n1", "n2")}
    meter = Meter(lists, replicas=3)
    voted: list[FileResult] = []
    box = Ballots(3, meter.after_vote(voted.append), JOB)
    (a, oa), (b, ob) = sealed("n0"), sealed("n1")
    for ballot in (a, b, replace(b, node="n2")):
        ballot.cpu_seconds = 1.0
        meter.chain(box.add)(ballot)
    box.decide("a.log", {"n0": {a.commitment or "": oa}, "n1": {b.commitment or "": ob}})
    (result,) = voted
    assert result.cost == 2.0
    assert bill(voted)["nodes"]["n2"]["cost"] == 0.0
