"""From the nodes' answers to the inventory round to a placement. Pure logic, no I/O.

The cluster asks every node once what it holds (cluster/messages.py InventoryAnswer); a sick node
says so and takes no shard, and placement (core/plan.py) puts each file next to its holders.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from codsh.core.model import InputFile
from codsh.core.plan import Node, Placement, PlacementError, place_replicas
from codsh.core.sampling import sample
from codsh.errors import InputError, ServiceUnavailable

Holders = Mapping[str, frozenset[str]]  # file CID -> the nodes that hold it


@dataclass(frozen=True)
class Verify:
    """Sampled verification (core/sampling.py): check `fraction` of the files, and every file
    whose first run is on one of the `suspects` (node names outvoted before)."""

    fraction: float
    suspects: frozenset[str]
    rng: random.Random

    def checked(self, names: Mapping[str, str]) -> Callable[[Placement], frozenset[str]]:
        def paths(first: Placement) -> frozenset[str]:
            runs = [(f.path, names.get(t.node, t.node)) for t in first.tasks for f in t.shard.files]
            always = [path for path, node in runs if node in self.suspects]
            return sample([path for path, _ in runs], self.fraction, always, self.rng)

        return paths


class Inventory(Protocol):
    """What one node said (cluster/messages.py InventoryAnswer has these)."""

    @property
    def healthy(self) -> bool: ...
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def slots(self) -> int: ...
    @property
    def held(self) -> Sequence[str]: ...
    @property
    def missing(self) -> Sequence[str]: ...
    @property
    def error(self) -> str: ...
    @property
    def codsh(self) -> bool: ...


def holders_of(answers: Mapping[str, Inventory]) -> dict[str, frozenset[str]]:
    """Who holds what: file CID -> the addresses of the nodes that said they hold it."""
    found: dict[str, set[str]] = {}
    for address, answer in answers.items():
        for cid in answer.held:
            found.setdefault(cid, set()).add(address)
    return {cid: frozenset(where) for cid, where in found.items()}


EVERY_NODE = ""  # output_questions' key for the outputs every node is asked about


def output_questions(outputs: Mapping[str, str], nodes: Iterable[str]) -> dict[str, list[str]]:
    """Remembered outputs (CID -> the node that made it) by the node to ask about them: the one
    that made and pinned it, so a rerun's 10,000s of outputs are each asked once, not of every
    node; an output whose maker is not known, or not among `nodes` now, is asked of every node."""
    present = set(nodes)
    asked: dict[str, list[str]] = {}
    for cid, node in outputs.items():
        asked.setdefault(node if node in present else EVERY_NODE, []).append(cid)
    return asked


def asked_of(questions: Mapping[str, Sequence[str]], node: str) -> list[str]:
    """The outputs `node` is asked about."""
    return [*questions.get(node, ()), *questions.get(EVERY_NODE, ())]


def held_somewhere(
    answers: Mapping[str, Inventory],
    questions: Mapping[str, Sequence[str]],
    names: Mapping[str, str],
) -> set[str]:
    """The outputs some healthy node said it holds: of those it was asked (`questions`, by node
    name; `names`: address -> name), all but the ones it named missing. A sick node, or a worker
    that is no codsh node, holds nothing."""
    held: set[str] = set()
    for address, answer in answers.items():
        if answer.healthy and answer.codsh:
            asked = asked_of(questions, names.get(address, address))
            held.update(set(asked).difference(answer.missing))
    return held


def left_out(
    answers: Mapping[str, Inventory], names: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The workers that take no shard, each named (its name and Dask address), and why."""
    shown = names or {}
    return {
        f"{shown[a]} ({a})" if shown.get(a, a) != a else a: answer.error or "not healthy"
        for a, answer in sorted(answers.items())
        if not answer.healthy
    }


def plan_from_inventory(
    answers: Mapping[str, Inventory],
    files: Sequence[InputFile],
    select: Mapping[str, str],
    shard_size: int = 1000,
    names: Mapping[str, str] | None = None,
) -> tuple[Placement, dict[str, frozenset[str]]]:
    """The placement of `files` on the healthy nodes among `answers` (node address -> answer),
    and who holds what. No healthy node is a service error; a selector no node matches, an input
    error (the user's to fix)."""
    [placement], held = replica_plans(answers, files, select, shard_size, names, 1)
    return placement, held


def replica_plans(
    answers: Mapping[str, Inventory],
    files: Sequence[InputFile],
    select: Mapping[str, str],
    shard_size: int,
    names: Mapping[str, str] | None,
    replicas: int,
    verify: Verify | None = None,
) -> tuple[list[Placement], dict[str, frozenset[str]]]:
    """`plan_from_inventory` for `replicas` runs of every file, each on a distinct node (or,
    with `verify`, of a sample of them besides the first run of every file)."""
    nodes = [
        Node(address, answer.slots, answer.labels)
        for address, answer in sorted(answers.items())
        if answer.healthy and answer.codsh
    ]
    if not nodes:
        sick = "; ".join(f"{a}: {why}" for a, why in left_out(answers, names).items())
        raise ServiceUnavailable(
            f"no healthy codsh node ({sick or 'no node joined'})",
            "start nodes with `codsh node join` or the devstack",
        )
    held = holders_of(answers)
    try:
        checked = verify.checked(names or {}) if verify else None
        placements = place_replicas(
            files, held, nodes, replicas, select=select, max_files=shard_size, checked=checked
        )
        return placements, held
    except PlacementError as exc:
        hint = (
            "lower --replicas, or add nodes"
            if replicas > 1
            else "check --select against the nodes' labels"
        )
        raise InputError(str(exc), hint) from exc
