"""Which files go together into one container (a shard): pure logic, no I/O.

One container per file is too slow (~0.2 s start); one container for everything leaves cores idle.
Shards are cut in input path order, bounded by a file count and a byte budget, and there are at least
as many shards as slots when there are enough files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class InputFile:
    """A file of the input tree: `path` is relative to the input root ('' when the root is a file)."""

    path: str
    cid: str
    size: int


@dataclass(frozen=True)
class Shard:
    index: int
    files: tuple[InputFile, ...]

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


def path_order(path: str) -> tuple[str, ...]:
    """Input path order: component by component, bytewise, so `a/b` sorts before `a.txt`.

    Comparing str components by code point is the same as comparing their UTF-8 bytes.
    """
    return tuple(path.split("/"))


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
