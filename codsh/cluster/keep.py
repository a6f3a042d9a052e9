"""How a node keeps the outputs it made: pinned, so that no garbage collection takes them.

kubo pins the CIDs of one request in turn and writes its pin set down after each: ~0.7 ms a pin
here (1,000 direct pins took 0.68-0.79 s, a fifth of a 1,000-file shard's time on a busy node).
So a shard with more than ONE_BY_ONE outputs links them from directory nodes made here (never
named anywhere: a holder for the pin), stores those and pins them recursively: one pin per
LINKS outputs (1,000 outputs: 0.02-0.03 s). Fewer are pinned one by one, each its own pin (a
one-block output directly, so the recursive pins an inventory lists stay few).
"""

from __future__ import annotations

from collections.abc import Sequence

from codsh.core.merge import directory_block
from codsh.core.model import FileResult
from codsh.core.unixfs import Link, is_raw_block
from codsh.ipfs.blocks import put_blocks
from codsh.ipfs.client import KuboClient

ONE_BY_ONE = 32  # outputs a shard pins one by one; past it, under holder nodes
LINKS = 2_000  # outputs a holder node links (~100 KB: well under kubo's 1 MiB block limit)


async def keep_outputs(
    ipfs: KuboClient, results: Sequence[FileResult]
) -> tuple[list[str], list[str]]:
    """Pin the outputs of `results` on this node. Returns what the block index should note: the
    outputs held, and the recursive pins made."""
    sizes = {r.output_cid: r.output_tsize for r in results if r.output_cid}
    outputs = sorted(sizes)
    if len(outputs) <= ONE_BY_ONE:
        blocks = [cid for cid in outputs if is_raw_block(cid)]
        dags = [cid for cid in outputs if not is_raw_block(cid)]
        if blocks:
            await ipfs.pin_add(*blocks, recursive=False)
        if dags:
            await ipfs.pin_add(*dags)
        return blocks, dags
    holders = []
    for start in range(0, len(outputs), LINKS):
        part = outputs[start : start + LINKS]
        links = [Link(cid, f"{index:06d}", sizes[cid]) for index, cid in enumerate(part)]
        holders.append(directory_block(links)[0])
    await put_blocks(ipfs, holders, "an output holder node")
    await ipfs.pin_add(*(holder.cid for holder in holders))
    return outputs, [holder.cid for holder in holders]
