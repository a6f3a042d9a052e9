"""Writing trees from kubo to disk: `codsh get`, and nodes fetching a function bundle."""

from __future__ import annotations

from pathlib import Path

import trio

from codsh.errors import InputError
from codsh.ipfs.client import KuboClient


def safe_join(root: Path, relative: str) -> Path:
    """`root/relative`, refusing names that would escape `root` (UnixFS names are untrusted)."""
    if not relative:
        return root
    parts = relative.split("/")
    if any(p in ("", ".", "..") or "\0" in p for p in parts):
        raise InputError(
            f"refusing to write the unsafe name {relative!r}", "fetch single files with `codsh cat`"
        )
    return root.joinpath(*parts)


async def write_file(ipfs: KuboClient, path: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    async with await trio.open_file(dest, "wb") as handle:
        async for chunk in ipfs.cat(path):
            await handle.write(chunk)
