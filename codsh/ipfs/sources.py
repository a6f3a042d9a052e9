"""Byte sources for `add`: bytes in memory, files and directory trees on disk, read in chunks.

A tree is listed first (`scan`, in a worker thread), so a progress bar knows its totals. Small
files are then read many at a time in one thread hop: a hop per file would cost more than kubo
takes to store a tiny file. Large files stream in CHUNK pieces.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import trio

from codsh.errors import InputError
from codsh.ipfs.multipart import AddEntry

CHUNK = 256 * 1024
SMALL = 1024 * 1024  # files up to this size are read whole, in batches
BATCH_FILES = 512
BATCH_BYTES = 8 * 1024 * 1024


async def once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def read_file_chunks(path: Path) -> AsyncIterator[bytes]:
    try:
        async with await trio.open_file(path, "rb") as handle:
            while chunk := await handle.read(CHUNK):
                yield chunk
    except OSError as exc:
        raise unreadable(path, exc) from exc


def unreadable(path: Path, exc: OSError) -> InputError:
    return InputError(
        f"cannot read {path}: {exc.strerror or exc}",
        "check its permissions, and that nothing removes files while they are added",
    )


@dataclass(frozen=True)
class DiskItem:
    """One part of a tree on disk: `name` is its path in the add, `path` None for a directory."""

    name: str
    path: Path | None
    size: int


def scan(paths: Iterable[Path]) -> list[DiskItem]:
    """The parts of files and trees on disk, depth first (kubo needs each directory's contents
    right after it), names sorted; blocking: run it in a thread."""
    items: list[DiskItem] = []
    for top in paths:
        try:
            _scan(top, top.name, items)
        except OSError as exc:
            raise unreadable(Path(exc.filename or top), exc) from exc
    for item in items:
        check_utf8(item.name, Path(item.name).parts[0])
    return items


def check_utf8(name: str, top: str | Path) -> None:
    """Refuse a name that is not UTF-8 (kept by the OS as undecodable bytes) before anything is
    added: per-file jobs, datasets and HAMT folders name files by text."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(
            f"{top}: the name {name!r} is not UTF-8; codsh adds UTF-8 names only",
            "rename the file (e.g. `convmv -f latin1 -t utf8`), then add the tree again",
        ) from None


def _scan(path: Path, name: str, items: list[DiskItem]) -> None:
    if not path.is_dir():
        items.append(DiskItem(name, path, path.stat().st_size))
        return
    items.append(DiskItem(name, None, 0))
    with os.scandir(path) as listing:
        children = sorted(listing, key=lambda e: e.name)
    for child in children:
        if child.is_dir() or child.is_file():
            _scan(Path(child.path), f"{name}/{child.name}", items)


async def read_entries(items: Sequence[DiskItem]) -> AsyncIterator[AddEntry]:
    """Add entries for `items`: small files read in batches in a thread, large ones streamed."""
    start = 0
    while start < len(items):
        end, size = start, 0
        while end < len(items) and end - start < BATCH_FILES and size < BATCH_BYTES:
            item = items[end]
            if item.path is not None and item.size > SMALL:
                break
            size += item.size
            end += 1
        if end == start:  # a large file
            item = items[start]
            assert item.path is not None
            yield AddEntry(item.name, read_file_chunks(item.path))
            start += 1
            continue
        batch = items[start:end]
        contents = await trio.to_thread.run_sync(_read_all, batch)
        for item, data in zip(batch, contents, strict=True):
            yield AddEntry(item.name, None if data is None else once(data))
        start = end


def _read_all(items: Sequence[DiskItem]) -> list[bytes | None]:
    contents: list[bytes | None] = []
    for item in items:
        try:
            contents.append(None if item.path is None else item.path.read_bytes())
        except OSError as exc:
            raise unreadable(item.path or Path(item.name), exc) from exc
    return contents


async def disk_entries(paths: Iterable[Path]) -> AsyncIterator[AddEntry]:
    """Add entries for files and directory trees on disk (see `scan`)."""
    items = await trio.to_thread.run_sync(scan, list(paths))
    async for entry in read_entries(items):
        yield entry
