"""dir:PATH: the output written into a temporary directory beside PATH, renamed to PATH at the end,
so PATH holds either the whole output or what it held before."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path

import trio

from codsh.core.publish import DirTarget, Item, Report
from codsh.errors import InfrastructureError, InputError
from codsh.ipfs.client import KuboClient

FILES_AT_ONCE = 8


def check_dir(target: DirTarget, overwrite: bool) -> None:
    """Refuse a target that is a file, or a non-empty directory unless `overwrite`."""
    path = Path(target.path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{path} exists and is not a directory", "give a directory with dir:PATH")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise InputError(
            f"{path} is not empty; nothing was written",
            "add --overwrite to replace it (atomically), or give another directory",
        )


async def publish_dir(
    ipfs: KuboClient,
    wanted: Sequence[Item],
    directories: Sequence[str],
    target: DirTarget,
    overwrite: bool,
    report: Report,
) -> None:
    """Write `wanted` (and the empty `directories`) into PATH's temporary twin, then swap it in."""
    check_dir(target, overwrite)
    final = Path(target.path).absolute()
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.parent / f".{final.name}.codsh-{secrets.token_hex(4)}"
    temporary.mkdir()
    try:
        for directory in directories:
            (temporary / directory).mkdir(parents=True, exist_ok=True)
        limit = trio.Semaphore(FILES_AT_ONCE)
        async with trio.open_nursery() as nursery:
            for item in wanted:
                nursery.start_soon(_write, ipfs, item, temporary, limit, report)
        swap_in(temporary, final)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


async def _write(
    ipfs: KuboClient, item: Item, root: Path, limit: trio.Semaphore, report: Report
) -> None:
    async with limit:
        path = root / item.name
        path.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        async with await trio.open_file(path, "wb") as out:
            async for chunk in ipfs.cat(item.cid):
                await out.write(chunk)
                written += len(chunk)
        if written != item.size:
            raise InfrastructureError(
                f"kubo sent {written} of the {item.size} bytes of {item.name!r}; nothing was written",
                "check the kubo daemon's log, then publish again",
            )
        report.uploaded.append(item.name)
        report.bytes += written


def swap_in(temporary: Path, final: Path) -> None:
    """Rename `temporary` to `final`; an existing `final` (empty, or replaced with --overwrite) is
    moved aside first and removed after, so `final` is never half written."""
    if not final.exists():
        os.rename(temporary, final)
        return
    old = final.parent / f".{final.name}.codsh-old-{secrets.token_hex(4)}"
    os.rename(final, old)
    try:
        os.rename(temporary, final)
    except BaseException:
        os.rename(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)
