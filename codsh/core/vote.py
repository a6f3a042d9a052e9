"""The per-file vote of replicated runs: storage nodes need not be trusted when every file runs on
several of them and a strict majority decides. Pure logic.

Each replica's result is a ballot for what it produced: (outcome, exit code, output CID). Content
addressing makes the comparison exact and cheap: the same bytes give the same CID on every node.
A strict majority of the replicas asked for wins and is what the output links to; the nodes that
said something else are outvoted. Without one the file is disputed: every candidate is kept with
the nodes behind it, the output leaves the file out, and the job fails. A command that is not
deterministic (`date`, `shuf`) is disputed on every file, never a false majority.

Replicas whose run never happened (their node was lost: Outcome.INFRASTRUCTURE) are not ballots;
when too few replicas ran to reach a majority, the file is lost for that reason, not disputed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from codsh.core.model import FileResult, Outcome

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


def vote(ballots: Sequence[FileResult], replicas: int) -> FileResult:
    """The result of one file from its replicas' results (each with the node it ran on).

    The winner's result carries `vote`: the agreeing nodes, the outvoted ones and, when there is
    no majority, every candidate; `node` is the first agreeing node."""
    if not ballots:
        raise ValueError("a vote needs at least one ballot")
    ran = [b for b in ballots if b.outcome is not Outcome.INFRASTRUCTURE]
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
        outvoted = sorted(n for c in candidates[1:] for n in c.nodes)
        record = {"replicas": replicas, "agreed": list(winner.nodes), "outvoted": outvoted}
        if outvoted:
            record["candidates"] = [c.as_dict() for c in candidates]
        return replace(chosen, node=winner.nodes[0], vote=record)
    first = ballots[0]
    if len(distinct) < needed:  # too few ran: the infrastructure's fault, not a dispute
        reasons = "; ".join(sorted({b.error or "" for b in ballots if b not in ran})) or "lost"
        return replace(
            first,
            outcome=Outcome.INFRASTRUCTURE,
            error=f"only {len(distinct)} of {replicas} replicas ran ({reasons})",
            output_cid=None,
            vote={"replicas": replicas, "candidates": [c.as_dict() for c in candidates]},
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
        vote={"replicas": replicas, "candidates": [c.as_dict() for c in candidates]},
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
    return counts


class Ballots:
    """The replicas' results of each file; a file is voted on (and reported) once all are in."""

    def __init__(self, replicas: int, on_file: Callable[[FileResult], None]) -> None:
        self.replicas = replicas
        self.on_file = on_file
        self.pending: dict[str, list[FileResult]] = {}
        self.voted: dict[str, FileResult] = {}

    def add(self, result: FileResult) -> None:
        ballots = self.pending.setdefault(result.path, [])
        ballots.append(result)
        if len(ballots) == self.replicas:
            self._decide(result.path)

    def close(self) -> list[FileResult]:
        """Every file's voted result (a file some replica never reported is voted on as is)."""
        for path in list(self.pending):
            self._decide(path)
        return list(self.voted.values())

    def _decide(self, path: str) -> None:
        voted = vote(self.pending.pop(path), self.replicas)
        self.voted[path] = voted
        self.on_file(voted)
