"""The plan of a job: which files go together into one container (a shard), and where each shard
runs (next to the data). Pure logic, no I/O; the cluster execution feeds it the nodes' inventory.

One container per file is too slow (~0.2 s start); one container for everything leaves cores idle.
Shards are cut in input path order, bounded by a file count and a byte budget, and there are at least
as many shards as slots when there are enough files.

Placement gives files to a node first and cuts them into shards per node second: cutting shards in
path order first would mix files of different holders in one shard, and no node could run it
locally. Each file goes to the eligible holder with the least work per slot so far (so replicas
spread the load); a file no eligible node holds goes to the least loaded eligible node, which
fetches it over bitswap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from codsh.core.model import InputFile, Shard, path_order


def make_shards(
    files: list[InputFile],
    *,
    max_files: int = 1000,
    max_bytes: int = 8 * 1024**3,
    min_shards: int = 1,
    presorted: bool = False,
) -> list[Shard]:
    """Cut `files` (taken in path order; pass `presorted` when they already are) into shards."""
    ordered = files if presorted else sorted(files, key=lambda f: path_order(f.path))
    if not ordered:
        return []
    # An even split over at least `min_shards` (sizes differ by one at most), capped by `max_files`.
    count = max(min(max(1, min_shards), len(ordered)), math.ceil(len(ordered) / max_files))
    base, extra = divmod(len(ordered), count)
    shards: list[Shard] = []
    current: list[InputFile] = []
    current_bytes = 0
    for file in ordered:
        per_shard = base + (1 if len(shards) < extra else 0)
        full = len(current) >= per_shard or (current and current_bytes + file.size > max_bytes)
        if full:
            shards.append(Shard(len(shards), tuple(current)))
            current, current_bytes = [], 0
        current.append(file)
        current_bytes += file.size
    shards.append(Shard(len(shards), tuple(current)))
    return shards


@dataclass(frozen=True)
class Node:
    """A node that can run shards: its name (the Dask worker address), slots and labels."""

    name: str
    slots: int = 1
    labels: Mapping[str, str] = field(default_factory=dict)

    def matches(self, select: Mapping[str, str]) -> bool:
        return all(self.labels.get(key) == value for key, value in select.items())


@dataclass(frozen=True)
class Task:
    """A shard placed on a node; `local_bytes` of it are already stored there."""

    shard: Shard
    node: str
    local_bytes: int


@dataclass(frozen=True)
class Placement:
    tasks: list[Task]

    @property
    def bytes_total(self) -> int:
        return sum(task.shard.bytes for task in self.tasks)

    @property
    def bytes_local(self) -> int:
        return sum(task.local_bytes for task in self.tasks)

    @property
    def bytes_moved(self) -> int:
        """Input bytes a node must fetch from another node before it can run its shard."""
        return self.bytes_total - self.bytes_local

    @property
    def locality(self) -> float:
        """Bytes processed where they were stored / all bytes (1.0 for an empty input)."""
        total = self.bytes_total
        return self.bytes_local / total if total else 1.0

    def shards_per_node(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for task in self.tasks:
            counts[task.node] = counts.get(task.node, 0) + 1
        return counts


@dataclass(frozen=True)
class FileRun:
    """Where one file's result was produced: by `node` (a Dask address), in submission
    `attempt`; `local` when that node stored the file."""

    file: InputFile
    node: str
    attempt: int
    local: bool


@dataclass(frozen=True)
class LocalityReport:
    """Where a job's files actually ran, for its summary, manifest and record: counted from the
    node that produced each file's result, not from where its shard was first placed (a node
    killed mid-job ran only what it finished)."""

    locality: float  # bytes run where they were stored / bytes run (1.0 when none ran)
    bytes_total: int  # input bytes of the files that ran
    bytes_moved: int  # of those, fetched from another node first
    shards_per_node: dict[str, int]  # shards (submissions) that produced at least one result
    rescheduled: int = 0  # shards rerun elsewhere because their node left or broke
    files_per_node: dict[str, int] = field(default_factory=dict)
    not_run: int = 0  # files no node produced a result for (lost: see the manifest)
    left_out: dict[str, str] = field(default_factory=dict)  # Dask workers given no shard: why

    @classmethod
    def of_runs(
        cls,
        runs: Sequence[FileRun],
        names: Mapping[str, str] | None = None,
        *,
        not_run: int = 0,
        rescheduled: int = 0,
    ) -> LocalityReport:
        """The report of `runs`, with nodes shown by `names` (Dask address -> worker name)."""
        shown = dict(names or {})
        files: dict[str, int] = {}
        shards: dict[str, set[int]] = {}
        for run in runs:
            node = shown.get(run.node, run.node)
            files[node] = files.get(node, 0) + 1
            shards.setdefault(node, set()).add(run.attempt)
        total = sum(run.file.size for run in runs)
        local = sum(run.file.size for run in runs if run.local)
        return cls(
            round(local / total, 4) if total else 1.0,
            total,
            total - local,
            {node: len(attempts) for node, attempts in sorted(shards.items())},
            rescheduled,
            dict(sorted(files.items())),
            not_run,
        )


def replacement_node(
    shard: Shard,
    holders: Mapping[str, frozenset[str]],
    candidates: Sequence[str],
    busy: Mapping[str, int],
) -> str:
    """Where to rerun a shard whose node left: the candidate storing most of its bytes, then the
    one with the fewest shards pending, then by name (deterministic)."""
    if not candidates:
        raise PlacementError("no node is left to run the shard on")

    def preference(node: str) -> tuple[int, int, str]:
        stored = sum(f.size for f in shard.files if node in holders.get(f.cid, ()))
        return (-stored, busy.get(node, 0), node)

    return min(candidates, key=preference)


class PlacementError(ValueError):
    """No node can run the job (none matches the selector, or there are no nodes)."""


def place(
    files: Sequence[InputFile],
    holders: Mapping[str, frozenset[str]],
    nodes: Sequence[Node],
    *,
    select: Mapping[str, str] | None = None,
    max_files: int = 1000,
    max_bytes: int = 8 * 1024**3,
    avoid: Mapping[str, set[str]] | None = None,
) -> Placement:
    """Place `files` on `nodes`, given `holders`: file CID -> names of the nodes that store it;
    a file is never placed on the nodes `avoid` gives for its path (its other replicas' nodes)."""
    eligible = sorted((n for n in nodes if n.matches(select or {})), key=lambda n: n.name)
    if not eligible:
        wanted = ", ".join(f"{k}={v}" for k, v in (select or {}).items()) or "any"
        labels = sorted({f"{k}={v}" for n in nodes for k, v in n.labels.items()})
        there = f"; the labels there: {', '.join(labels)}" if labels else "; none has a label"
        raise PlacementError(
            f"no node matches the selector ({wanted}) among {len(nodes)} node(s){there}"
        )
    slots = {n.name: max(1, n.slots) for n in eligible}
    everyone = list(slots)
    load = dict.fromkeys(slots, 0.0)  # bytes given so far, per slot
    given: dict[str, list[InputFile]] = {n: [] for n in slots}
    local: dict[str, set[str]] = {n: set() for n in slots}  # CIDs each node runs where stored
    no_one: frozenset[str] = frozenset()
    nowhere: set[str] = set()
    for file in sorted(files, key=lambda f: path_order(f.path)):
        stored_on = holders.get(file.cid, no_one)
        taken = (avoid or {}).get(file.path, nowhere)
        free = [n for n in everyone if n not in taken]
        if not free:
            raise PlacementError(
                f"{file.path or 'the input file'} needs a node none of its replicas ran on; "
                f"{len(everyone)} node(s) match"
            )
        candidates = [n for n in stored_on if n in slots and n not in taken] or free
        node = min(candidates, key=lambda n: (load[n], n)) if len(candidates) > 1 else candidates[0]
        load[node] += max(file.size, 1) / slots[node]
        given[node].append(file)
        if node in stored_on:
            local[node].add(file.cid)
    tasks: list[Task] = []
    for name in sorted(given):
        for shard in make_shards(
            given[name],
            max_files=max_files,
            max_bytes=max_bytes,
            min_shards=slots[name],
            presorted=True,
        ):
            stored = sum(f.size for f in shard.files if f.cid in local[name])
            tasks.append(Task(Shard(len(tasks), shard.files), name, stored))
    return Placement(tasks)


def place_replicas(
    files: Sequence[InputFile],
    holders: Mapping[str, frozenset[str]],
    nodes: Sequence[Node],
    replicas: int,
    *,
    select: Mapping[str, str] | None = None,
    max_files: int = 1000,
    checked: Callable[[Placement], Collection[str]] | None = None,
) -> list[Placement]:
    """One placement per replica, each file on a node no other replica of it uses: holders first
    (the first replica goes where `place` puts it), then the least loaded of the others.
    `checked`: given the first placement, the paths the other replicas run (sampled
    verification, core/sampling.py); every path when None."""
    eligible = [n for n in nodes if n.matches(select or {})]
    if eligible and replicas > len(eligible):  # none at all: place() names the selector
        raise PlacementError(
            f"--replicas {replicas} needs {replicas} distinct nodes; "
            f"{len(eligible)} of the {len(nodes)} node(s) can run this job"
        )
    used: dict[str, set[str]] = {}
    placements: list[Placement] = []
    for index in range(replicas):
        if index == 1 and checked is not None:
            wanted = set(checked(placements[0]))
            files = [f for f in files if f.path in wanted]
        placement = place(files, holders, nodes, select=select, max_files=max_files, avoid=used)
        for task in placement.tasks:
            for file in task.shard.files:
                used.setdefault(file.path, set()).add(task.node)
        placements.append(placement)
    return placements


def locality_lines(report: Mapping[str, Any], size: Callable[[int], str] = str) -> list[str]:
    """The summary's lines about a LocalityReport (as a dict: records hold it as JSON)."""
    files = report.get("files_per_node") or {}
    shards = report.get("shards_per_node") or {}
    ran = ", ".join(
        f"{node}: {files.get(node, '?')} file(s) in {count} shard(s)"
        for node, count in sorted(shards.items())
    )
    line = (
        f"locality {float(report['locality']):.2f}, {size(int(report['bytes_moved']))} moved "
        f"between nodes; ran on {ran or 'no node'}"
    )
    if report.get("not_run"):
        line += f"; {report['not_run']} file(s) ran nowhere"
    warnings = [
        f"warning: {worker} took no shard: {why}"
        for worker, why in sorted((report.get("left_out") or {}).items())
    ]
    return [line, *warnings]
