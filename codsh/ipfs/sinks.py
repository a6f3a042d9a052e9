"""Writing trees from kubo to disk: `codsh get`, and nodes fetching a function bundle."""

from __future__ import annotations

from pathlib import Path

import trio

from codsh.core.unixfs import safe_join
from codsh.ipfs.client import KuboClient

__all__ = ["safe_join", "write_file"]


async def write_file(ipfs: KuboClient, path: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    async with await trio.open_file(dest, "wb") as handle:
        async for chunk in ipfs.cat(path):
            await handle.write(chunk)
