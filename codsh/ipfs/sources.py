"""Byte sources for `add`: bytes in memory, files and directory trees on disk, read in chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import trio

from codsh.ipfs.multipart import AddEntry

CHUNK = 256 * 1024


async def once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def read_file_chunks(path: Path) -> AsyncIterator[bytes]:
    async with await trio.open_file(path, "rb") as handle:
        while chunk := await handle.read(CHUNK):
            yield chunk


def disk_entries(paths: Iterable[Path]) -> Iterable[AddEntry]:
    """Add entries for files and directory trees on disk, depth first (kubo needs each directory's
    contents right after it), names sorted."""
    for top in paths:
        yield from _disk_tree(top, top.name)


def _disk_tree(path: Path, name: str) -> Iterable[AddEntry]:
    if path.is_dir():
        yield AddEntry(name)
        for child in sorted(path.iterdir(), key=lambda p: p.name):
            if child.is_dir() or child.is_file():
                yield from _disk_tree(child, f"{name}/{child.name}")
    else:
        yield AddEntry(name, read_file_chunks(path))
