"""Storing many computed blocks (merge nodes, HAMT shards, dataset nodes) a batch per request.

A HAMT of 100,000 names has ~30,000 nodes: put one request each they took ~2 ms apiece on this
machine, in requests of 200 ~0.5 ms (tests/ipfs/test_blocks.py measures both). Every CID kubo
answers is checked against the one codsh computed, so a kubo that encodes otherwise is caught.
"""

from __future__ import annotations

from collections.abc import Sequence

from codsh.core.merge import Block, put_batches
from codsh.errors import InfrastructureError
from codsh.ipfs.client import KuboClient


async def put_blocks(ipfs: KuboClient, blocks: Sequence[Block], what: str = "a node") -> None:
    """Store `blocks` (children before parents, as computed) and check each CID kubo gives."""
    for batch in put_batches(blocks):
        stored = await ipfs.block_put_many([block.data for block in batch], batch[0].codec)
        for block, cid in zip(batch, stored, strict=False):
            if cid != block.cid:
                raise InfrastructureError(
                    f"kubo stored {what} as {cid}, expected {block.cid}",
                    "is the kubo at --ipfs a v0.42 with default settings? report this: codsh "
                    "and kubo disagree on the encoding",
                )
        if len(stored) != len(batch):
            raise InfrastructureError(
                f"kubo stored {len(stored)} of {len(batch)} blocks in one request",
                "check kubo's log; then try again",
            )
