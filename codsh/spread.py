"""`codsh devstack add --spread K`: each file stored on K of the devstack's nodes only, so
locality is real on one machine (codsh/devstack.py runs the nodes)."""

from __future__ import annotations

from pathlib import Path

import trio

from codsh.core.merge import (
    Block,
    MergeError,
    Output,
    directory_nodes,
    merge_per_file,
    pin_batches,
)
from codsh.core.unixfs import Link, raw_cid
from codsh.errors import CodshError, InputError
from codsh.ipfs.blocks import put_blocks
from codsh.ipfs.client import AddOptions, AddResult, KuboClient
from codsh.ipfs.multipart import AddEntry
from codsh.ipfs.sources import check_utf8, read_file_chunks


async def add_spread(path: Path, replicas: int, api_urls: list[str]) -> str:
    """Add a file or tree so that each file is stored (and pinned) on `replicas` nodes only,
    round robin, while its directory nodes are on every node; return the root CID.

    This makes locality real on one machine: a node can list the whole dataset, but holds only
    its share of the bytes.
    """
    top = path.resolve()
    files = _local_files(top)
    directories = _local_dirs(top)  # every folder, the empty ones too
    check_layout(top, files, directories)  # before anything is added: it fails in seconds
    if not api_urls:
        raise CodshError(
            "the devstack is not running", "start it with `codsh devstack up --nodes N`"
        )
    count = min(max(1, replicas), len(api_urls))
    chosen: dict[int, list[int]] = {node: [] for node in range(len(api_urls))}
    for index in range(len(files)):
        for offset in range(count):
            chosen[(index + offset) % len(api_urls)].append(index)
    added: dict[int, AddResult] = {}

    async def add_on(node: int) -> None:
        if not chosen[node]:
            return
        async with KuboClient(api_urls[node]) as ipfs:
            entries = [AddEntry(str(i), read_file_chunks(files[i][1])) for i in chosen[node]]
            results = await ipfs.add(entries, AddOptions(pin=False))
            for result in results:
                added[int(result.name)] = result
            await _hold(ipfs, results)

    async with trio.open_nursery() as nursery:
        for node in chosen:
            nursery.start_soon(add_on, node)
    outputs = [
        Output(rel, added[i].cid, full.stat().st_size, added[i].size)
        for i, (rel, full) in enumerate(files)
    ]
    merged = merge_per_file(outputs, directories)
    async with trio.open_nursery() as nursery:
        for url in api_urls:
            nursery.start_soon(_store_blocks, url, merged.blocks)
    return merged.cid


async def _hold(ipfs: KuboClient, results: list[AddResult]) -> None:
    """Pin a node's files with one recursive pin of a folder of its own that links them (kubo
    takes ~5 ms a pin on a busy machine: 12,000 files pinned one by one took 60 s, this ~1 s).
    Every block under it is on this node already, so the pin fetches nothing."""
    links = [Link(r.cid, r.name, r.size) for r in results]
    blocks, root, _ = directory_nodes(links)
    await put_blocks(ipfs, blocks, "a folder node")
    await ipfs.pin_add(root)


async def _store_blocks(url: str, blocks: list[Block]) -> None:
    """Put the directory nodes on one node (a HAMT of 100k names has ~30k: 200 a request,
    codsh/ipfs/blocks.py), then pin them."""
    async with KuboClient(url) as ipfs:
        await put_blocks(ipfs, blocks, "a folder node")
        for cids in pin_batches(blocks):
            await ipfs.pin_add(*cids, recursive=False)


CHUNK = 256 * 1024  # the canonical chunk size: a bigger file is a dag-pb node over its chunks


def check_layout(top: Path, files: list[tuple[str, Path]], directories: list[str]) -> None:
    """Refuse at once what cannot be spread, before anything is added. The folders are built
    here by reference with the merge's code (HAMT-sharded past kubo's threshold, as `ipfs add`
    shards them, so the root is kubo's); the layout is computed with stand-in CIDs of the same
    length, which decide sharding just as the real ones will."""
    for rel, _ in files:
        check_utf8(rel, top)
    stand_in = raw_cid(b"")
    sizes = [(rel, full.stat().st_size) for rel, full in files]
    outputs = [Output(rel, stand_in, size, size + 64 * (size // CHUNK + 1)) for rel, size in sizes]
    try:
        merge_per_file(outputs, directories)
    except MergeError as exc:
        raise InputError(
            f"{top}: {exc}", "rename the files in question, or add the tree with `codsh add`"
        ) from exc


def _local_files(top: Path) -> list[tuple[str, Path]]:
    """(path relative to `top`, full path) of every file, '' for `top` itself when it is a file."""
    if top.is_file():
        return [("", top)]
    return sorted(
        (p.relative_to(top).as_posix(), p)
        for p in top.rglob("*")
        if p.is_file() and not p.is_symlink()
    )


def _local_dirs(top: Path) -> list[str]:
    if top.is_file():
        return []
    return [p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_dir()]
