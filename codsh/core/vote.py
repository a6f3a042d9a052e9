"""The per-file vote of replicated runs: storage nodes need not be trusted when every file runs on
several of them and a strict majority decides. Pure logic.

Each replica's result is a ballot for what it produced: (outcome, exit code, output CID). Content
addressing makes the comparison exact and cheap: the same bytes give the same CID on every node.
A strict majority of the replicas asked for wins and is what the output links to; the nodes that
said something else are outvoted. Without one the file is disputed: every candidate is kept with
the nodes behind it, the output leaves the file out, and the job fails. A command that is not
deterministic (`date`, `shuf`) is disputed on every file, never a false majority.

In a replicated job the ballots arrive sealed (core/commit.py): a node that cannot open its
commitment, or sent a copy of another's, broke the protocol and is outvoted whatever it said.

Replicas whose run never happened (their node was lost: Outcome.INFRASTRUCTURE) are not ballots;
when too few replicas ran to reach a majority, the file is lost for that reason, not disputed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from codsh.core.commit import Opening, unseal
from codsh.core.model import FileResult, Outcome

BROKEN_OPENING = "its opening does not match its commitment"
BROKEN_COPY = "it sent another node's commitment (copied, did not run)"
DISPUTED_ERROR = "disputed: no strict majority of the {n} replicas agreed on the output"


@dataclass(frozen=True)
class Candidate:
    """One answer some replicas gave, and the nodes that gave it."""

    outcome: str
    exit_code: int | None
    output_cid: str | None
    nodes: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "output_cid": self.output_cid,
            "nodes": list(self.nodes),
        }


def _answer(result: FileResult) -> tuple[str, int | None, str | None]:
    return (str(result.outcome), result.exit_code, result.output_cid)


def vote(
    ballots: Sequence[FileResult], replicas: int, broken: Mapping[str, str] | None = None
) -> FileResult:
    """The result of one file from its replicas' results (each with the node it ran on).

    The winner's result carries `vote`: the agreeing nodes, the outvoted ones and, when there is
    no majority, every candidate; `node` is the first agreeing node. `broken`: nodes whose ballot
    did not open its commitment (core/commit.py), with why: they count as outvoted."""
    if not ballots:
        raise ValueError("a vote needs at least one ballot")
    broken = dict(broken or {})
    cheats = [{"node": node, "why": why} for node, why in sorted(broken.items())]
    ran = [b for b in ballots if b.outcome is not Outcome.INFRASTRUCTURE and b.node not in broken]
    seen: set[str] = set()
    distinct = []  # one ballot per node: a node run twice (rescheduled onto) counts once
    for ballot in ran:
        if ballot.node not in seen:
            seen.add(ballot.node)
            distinct.append(ballot)
    groups: dict[tuple[str, int | None, str | None], list[FileResult]] = {}
    for ballot in distinct:
        groups.setdefault(_answer(ballot), []).append(ballot)
    candidates = sorted(
        (
            Candidate(*answer, tuple(sorted(b.node for b in group)))
            for answer, group in groups.items()
        ),
        key=lambda c: (-len(c.nodes), c.nodes),
    )
    needed = replicas // 2 + 1
    if candidates and len(candidates[0].nodes) >= needed:
        winner = candidates[0]
        chosen = next(
            b
            for b in distinct
            if _answer(b) == (winner.outcome, winner.exit_code, winner.output_cid)
        )
        outvoted = sorted([n for c in candidates[1:] for n in c.nodes] + list(broken))
        record: dict[str, Any] = {
            "replicas": replicas,
            "agreed": list(winner.nodes),
            "outvoted": outvoted,
        }
        if len(candidates) > 1:
            record["candidates"] = [c.as_dict() for c in candidates]
        if cheats:
            record["broken"] = cheats
        return replace(chosen, node=winner.nodes[0], vote=record)
    first = ballots[0]
    record = {"replicas": replicas, "candidates": [c.as_dict() for c in candidates]}
    if cheats:
        record["broken"] = cheats
    if len(distinct) < needed and not cheats:  # too few ran: the infrastructure's fault
        lost = [b for b in ballots if b not in ran]
        reasons = "; ".join(sorted({b.error or "" for b in lost})) or "lost"
        return replace(
            first,
            outcome=Outcome.INFRASTRUCTURE,
            error=f"only {len(distinct)} of {replicas} replicas ran ({reasons})",
            output_cid=None,
            vote=record,
        )
    return replace(
        first,
        outcome=Outcome.DISPUTED,
        error=DISPUTED_ERROR.format(n=replicas),
        exit_code=None,
        output_cid=None,
        output_size=0,
        output_tsize=0,
        node="",
        vote=record,
    )


def tally(votes: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, dict[str, int]]:
    """Per node: replicas run, agreed, outvoted, disputed, from voted files' (outcome, vote)."""
    counts: dict[str, dict[str, int]] = {}

    def add(node: str, key: str) -> None:
        entry = counts.setdefault(node, {"run": 0, "agreed": 0, "outvoted": 0, "disputed": 0})
        entry[key] += 1

    for outcome, record in votes:
        disputed = outcome == Outcome.DISPUTED
        for candidate in record.get("candidates", []):
            for node in candidate["nodes"]:
                add(node, "run")
                if disputed:
                    add(node, "disputed")
        if not record.get("candidates"):
            for node in record.get("agreed", []):
                add(node, "run")
        for node in record.get("agreed", []):
            add(node, "agreed")
        for node in record.get("outvoted", []):
            add(node, "outvoted")
        for entry in record.get("broken", []):
            add(entry["node"], "run")
            if disputed:
                add(entry["node"], "outvoted")
    return counts


class Ballots:
    """The replicas' results of each file; a file is voted on (and reported) once all are in.

    Sealed ballots (a replicated job: core/commit.py) carry commitments, not outputs: a file
    whose replicas have all committed is `ready`; the driver fetches the nodes' openings of
    those and `decide`s. `counts`: how many replicas a file has when not `replicas` (sampled
    verification runs most files once)."""

    def __init__(
        self,
        replicas: int,
        on_file: Callable[[FileResult], None],
        job: str = "",
        counts: Mapping[str, int] | None = None,
        on_ready: Callable[[], None] = lambda: None,
    ) -> None:
        self.replicas = replicas
        self.on_file = on_file
        self.on_ready = on_ready
        self.job = job
        self.counts = counts or {}
        self.pending: dict[str, list[FileResult]] = {}
        self.ready: list[str] = []  # every replica committed: to be opened
        self.voted: dict[str, FileResult] = {}

    def add(self, result: FileResult) -> None:
        if result.path in self.voted:
            return  # a late run (rescheduled after its replicas were voted on): decided
        ballots = self.pending.setdefault(result.path, [])
        ballots.append(result)
        if len(ballots) == self.counts.get(result.path, self.replicas):
            if any(b.commitment for b in ballots):
                self.ready.append(result.path)
                self.on_ready()
            else:
                self.decide(result.path, {})

    def take_ready(self, everything: bool = False) -> dict[str, list[FileResult]]:
        """The files to open now and their ballots; `everything`: also those some replica never
        reported (the runs are over)."""
        paths = list(self.pending) if everything else self.ready
        self.ready = []
        return {path: self.pending[path] for path in paths if path in self.pending}

    def decide(self, path: str, openings: Mapping[str, Mapping[str, Opening]]) -> None:
        """Vote on `path` with the openings its nodes gave (node -> commitment -> opening)."""
        ballots = self.pending.pop(path)
        opened, broken = open_ballots(ballots, openings, self.job)
        replicas = self.counts.get(path, self.replicas)
        voted = vote(opened, replicas, broken)
        if replicas == 1 and voted.vote is not None and not broken:
            voted = replace(voted, vote=None)  # a file run once has nothing to vote on
        self.voted[path] = voted
        self.on_file(voted)

    def close(self) -> list[FileResult]:
        """Every file's voted result (a file still unopened is voted on as is)."""
        for path in list(self.pending):
            self.decide(path, {})
        return list(self.voted.values())


def open_ballots(
    ballots: Sequence[FileResult], openings: Mapping[str, Mapping[str, Opening]], job: str
) -> tuple[list[FileResult], dict[str, str]]:
    """Each ballot with its commitment opened, and the nodes that broke the protocol (with why).

    A commitment that does not open, or that another node also sent (it was copied: commitments
    are bound to their node, so no two honest ones are equal), breaks it; one left unopened by
    a node that is gone is a lost run, not a lie."""
    sent = Counter(b.commitment for b in ballots if b.commitment)
    opened: list[FileResult] = []
    broken: dict[str, str] = {}
    for ballot in ballots:
        if ballot.commitment is None:
            opened.append(ballot)  # not sealed (or lost before it ran): nothing to open
            continue
        opening = openings.get(ballot.node, {}).get(ballot.commitment)
        result = unseal(ballot, opening, job)
        if result is not None:
            opened.append(result)
        elif opening is not None:
            broken[ballot.node] = BROKEN_OPENING
            opened.append(ballot)
        elif sent[ballot.commitment] > 1:
            broken[ballot.node] = BROKEN_COPY
            opened.append(ballot)
        else:
            error = f"{ballot.node} did not open its commitment (the node is gone?)"
            opened.append(replace(ballot, outcome=Outcome.INFRASTRUCTURE, error=error))
    return opened, broken
