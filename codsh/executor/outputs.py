"""Outputs into kubo, batched, and what else both executors do alike with a shard's results.

A request per output costs more than many small outputs take to compute, so a shard's outputs go
to kubo in streamed add requests (one part per file, named by its index in the shard) of at most
BATCH_FILES parts, each closed BATCH_SECONDS after it opened. When a request completes, its files'
output CIDs are known, so progress and job records stay current.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

import trio

from codsh.core.model import FileResult, InputFile
from codsh.errors import CodshError, InfrastructureError
from codsh.ipfs.client import AddOptions, AddResult, KuboClient
from codsh.ipfs.multipart import AddEntry
from codsh.ipfs.sources import once

# CIDv1, raw leaves, fixed chunker: same bytes, same CID on every node. Leaves are not pinned one by
# one (that costs ~1 ms each); the driver pins the merged root, which covers them.
OUTPUT_OPTIONS = AddOptions(pin=False)
BATCH_FILES = 200  # outputs per add request (results are complete when their request is)
BATCH_SECONDS = 1.0  # and an add request stays open at most this long
# how long a small write of an add waits for more outputs: a write to kubo costs ~0.5 ms, more
# than a small file takes to run, and a result is known only when its request completes anyway
LINGER = 0.02

Added = Callable[[list[str], dict[str, AddResult]], None]  # part names sent, what kubo stored


async def add_outputs(
    ipfs: KuboClient, parts: trio.MemoryReceiveChannel[AddEntry], on_added: Added
) -> None:
    """Add the parts received on `parts` until it closes; `on_added` after each request."""
    async with parts:
        while True:
            try:
                first = await parts.receive()
            except trio.EndOfChannel:
                return
            names: list[str] = []
            try:
                batch = ipfs.add_stream(_batch(first, parts, names), OUTPUT_OPTIONS, linger=LINGER)
                added = {result.name: result async for result in batch}
            except CodshError as exc:
                raise InfrastructureError(f"could not add outputs to kubo: {exc}") from exc
            on_added(names, added)


async def _batch(
    entry: AddEntry, parts: trio.MemoryReceiveChannel[AddEntry], names: list[str]
) -> AsyncIterator[AddEntry]:
    """Parts for one add request: up to BATCH_FILES, for at most BATCH_SECONDS."""
    deadline = trio.current_time() + BATCH_SECONDS
    following: AddEntry | None = entry
    while following is not None:
        names.append(following.path)
        yield following
        if len(names) >= BATCH_FILES:
            return
        following = None
        with trio.move_on_at(deadline), contextlib.suppress(trio.EndOfChannel):
            following = await parts.receive()


def short_read(file: InputFile, received: int) -> str | None:
    """Why an input read is incomplete (kubo reports late failures only in an HTTP trailer, so
    the bytes are counted against the listing's size), or None when it is whole."""
    if received == file.size:
        return None
    return f"kubo sent {received} of the {file.size} bytes of {file.cid}"


async def store_stderr(ipfs: KuboClient, results: Sequence[FileResult]) -> None:
    """Store each non-empty stderr beside its excerpt (the manifest links it by CID)."""
    with_stderr = [(str(i), r) for i, r in enumerate(results) if r.stderr]
    if not with_stderr:
        return
    entries = [AddEntry(name, once(r.stderr.encode())) for name, r in with_stderr]
    try:
        stored = {a.name: a.cid for a in await ipfs.add(entries)}
    except CodshError:
        return  # the excerpt is in the manifest anyway
    for name, result in with_stderr:
        result.stderr_cid = stored.get(name)
