"""Resolving a user's CID[/path] through kubo, with errors that say what happened and what to do.

Every command that reads user input (jobs and the data commands) goes through here, so a missing
CID, a wrong path or an unreachable node reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from codsh.core.model import InputFile
from codsh.core.spec import DEFAULT_FIND_TIMEOUT
from codsh.errors import InputError
from codsh.ipfs.client import Entry, KuboClient, KuboError


@dataclass(frozen=True)
class InputTree:
    """The files of an input (path '' when the input is one file) and its directories; `folders`
    gives each directory's CID (what the folder memo, core/folders.py, is keyed by), and only
    when `files` are all of them: a listing cut down to some files has none, or the memo would
    remember a folder from part of it."""

    files: list[InputFile]
    directories: list[str]
    folders: dict[str, str] = field(default_factory=dict)


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


async def list_input(
    ipfs: KuboClient, path: str, find_timeout: float = DEFAULT_FIND_TIMEOUT
) -> InputTree:
    """Every file under `path` (a directory or one file), waiting at most `find_timeout` to find it."""
    files: list[InputFile] = []
    folders: dict[str, str] = {}
    async with explained(path, find_timeout):
        async for entry in ipfs.walk(path, timeout=f"{find_timeout:g}s"):
            if entry.is_dir:
                folders[entry.path] = entry.cid
            else:
                files.append(InputFile(entry.path, entry.cid, entry.size))
    return InputTree(files, list(folders), folders)


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
