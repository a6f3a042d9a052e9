"""Resolving a user's CID[/path] through kubo, with errors that say what happened and what to do.

Every command that reads user input (jobs and the data commands) goes through here, so a missing
CID, a wrong path or an unreachable node reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from codsh.core.folders import KeptFolder
from codsh.core.model import InputFile, path_order
from codsh.core.spec import DEFAULT_FIND_TIMEOUT
from codsh.errors import InputError
from codsh.ipfs.client import Entry, KuboClient, KuboError, Prune

# The folders (path -> CID) the folder memo keeps whole, of some folders (path -> CID) listed
KeptLookup = Callable[[dict[str, str]], Awaitable[dict[str, KeptFolder]]]


@dataclass(frozen=True)
class InputTree:
    """The files of an input (path '' when the input is one file) and its directories; `folders`
    gives each directory's CID (what the folder memo, core/folders.py, is keyed by), and only
    when `files` are all of them: a listing cut down to some files has none, or the memo would
    remember a folder from part of it."""

    files: list[InputFile]
    directories: list[str]
    folders: dict[str, str] = field(default_factory=dict)
    # folders not walked into: the folder memo keeps their output (their files are not listed)
    pruned: list[KeptFolder] = field(default_factory=list)
    memo_asked: bool = False  # the listing asked the folder memo of every folder: see `pruned`

    @property
    def file_count(self) -> int:
        return len(self.files) + sum(k.files for k in self.pruned)

    @property
    def byte_count(self) -> int:
        return sum(f.size for f in self.files) + sum(k.bytes_in for k in self.pruned)


class Pruning:
    """A walk's `prune`: it leaves out the folders `lookup` says the memo keeps, and says which."""

    def __init__(self, lookup: KeptLookup | None) -> None:
        self._lookup = lookup
        self.kept: dict[str, KeptFolder] = {}  # by path

    @property
    def prune(self) -> Prune | None:
        return self._prune if self._lookup is not None else None

    async def _prune(self, folders: list[Entry]) -> set[str]:
        assert self._lookup is not None
        found = await self._lookup({folder.path: folder.cid for folder in folders})
        self.kept.update(found)
        return set(found)


@asynccontextmanager
async def explained(path: str, find_timeout: float) -> AsyncIterator[None]:
    """Turn kubo's errors about `path` into InputErrors with a hint."""
    try:
        yield
    except KuboError as exc:
        message = exc.kubo_message
        if "deadline exceeded" in message or "context canceled" in message:
            raise InputError(
                f"could not find {path} within {find_timeout:g}s: no connected node provides it",
                "check the CID; make sure a node holding it is running and connected to yours "
                "(or wait longer with --find-timeout)",
            ) from exc
        if "no link named" in message or "not exist" in message or "not found" in message:
            raise InputError(
                f"{path} does not exist: {message}",
                "check the path after the CID with `codsh ls CID`",
            ) from exc
        raise InputError(
            f"cannot read {path}: {message}", "check that it is a UnixFS file or directory"
        ) from exc


async def stat_input(
    ipfs: KuboClient, path: str, find_timeout: float = DEFAULT_FIND_TIMEOUT
) -> Entry:
    async with explained(path, find_timeout):
        return await ipfs.stat(path, timeout=f"{find_timeout:g}s")


class TooManyListed(Exception):
    """A listing past its `most` files: `counted` of them, or more when `capped` (it stopped)."""

    def __init__(self, counted: int, capped: bool) -> None:
        super().__init__(f"{'more than ' if capped else ''}{counted} files")
        self.counted, self.capped = counted, capped


COUNT_PAST = 10  # past `most`, files are counted up to this many times it, then "more than"


async def list_input(
    ipfs: KuboClient,
    path: str,
    find_timeout: float = DEFAULT_FIND_TIMEOUT,
    kept: KeptLookup | None = None,
    most: int | None = None,
) -> InputTree:
    """Every file under `path` (a directory or one file), waiting at most `find_timeout` to find
    it; not those of folders `kept` says the folder memo keeps whole (the tree's `pruned`, whose
    files count). More than `most` files: a TooManyListed, once they are counted (or past
    COUNT_PAST times `most`), holding no more than `most` of them meanwhile."""
    files: list[InputFile] = []
    folders: dict[str, str] = {}
    pruning = Pruning(kept)
    counted, stop = 0, None if most is None else most * COUNT_PAST
    async with explained(path, find_timeout):
        async for entry in ipfs.walk(path, f"{find_timeout:g}s", pruning.prune):
            if entry.is_dir:
                folders[entry.path] = entry.cid
                counted += pruning.kept[entry.path].files if entry.path in pruning.kept else 0
                continue
            counted += 1
            if most is None or counted <= most:
                files.append(InputFile(entry.path, entry.cid, entry.size))
            elif stop is not None and counted > stop:
                raise TooManyListed(stop, capped=True)
    if most is not None and counted > most:
        raise TooManyListed(counted, capped=False)
    return InputTree(files, list(folders), folders, list(pruning.kept.values()), kept is not None)


async def listed_after_all(
    ipfs: KuboClient, path: str, tree: InputTree, folders: Sequence[KeptFolder], find_timeout: float
) -> InputTree:
    """`tree` (the listing of `path`) with the files of its pruned `folders` listed after all: the
    memo's output of them turned out gone."""
    files, directories, cids = list(tree.files), list(tree.directories), dict(tree.folders)
    for folder in folders:
        inside = await list_input(ipfs, f"{path.rstrip('/')}/{folder.path}", find_timeout)
        files += [InputFile(f"{folder.path}/{f.path}", f.cid, f.size) for f in inside.files]
        directories += [f"{folder.path}/{d}" for d in inside.directories]
        cids.update({f"{folder.path}/{d}": cid for d, cid in inside.folders.items()})
    files.sort(key=lambda f: path_order(f.path))  # the walk's order
    directories.sort(key=path_order)
    gone = {folder.path for folder in folders}
    pruned = [k for k in tree.pruned if k.path not in gone]
    return InputTree(files, directories, cids, pruned, tree.memo_asked)


async def list_entries(
    ipfs: KuboClient, path: str, recursive: bool = False
) -> tuple[bool, list[Entry]]:
    """What `codsh ls` shows of `path`: whether it is a directory, and its entries (sorted by
    name bytewise; with `recursive`, the whole tree in walk order); a file lists itself."""
    root = await stat_input(ipfs, path)
    if not root.is_dir:
        return False, [Entry(path.rsplit("/", 1)[-1], root.cid, root.size, False)]
    async with explained(path, DEFAULT_FIND_TIMEOUT):
        if recursive:
            return True, [e async for e in ipfs.walk(path)]
        return True, sorted(await ipfs.ls(path), key=lambda e: e.path.encode())


def entry_dict(entry: Entry) -> dict[str, Any]:
    """An entry as `codsh ls --json` and the API show it."""
    return {"path": entry.path, "cid": entry.cid, "size": entry.size, "dir": entry.is_dir}
