"""Batched block puts (issue 13): a merge's, a dataset's and devstack add's nodes go to kubo 200 a
request, each CID checked against codsh's. Real kubo."""

from __future__ import annotations

import time
import uuid

import pytest

from codsh.core.merge import Block, Output, merge_per_file
from codsh.core.unixfs import raw_cid
from codsh.errors import InfrastructureError
from codsh.ipfs.blocks import put_blocks
from codsh.ipfs.client import KuboClient
from codsh.kubo_daemon import KuboProcess
from tests.conftest import run


def hamt_nodes(count: int) -> list[Block]:
    """The nodes of a fresh HAMT-sharded folder (new CIDs each call)."""
    salt = uuid.uuid4().hex
    outputs = [Output(f"{salt}-{i}", raw_cid(f"{salt}{i}".encode()), 9, 9) for i in range(count)]
    return merge_per_file(outputs).blocks


def test_batched_puts_store_every_node_faster_than_one_request_each(kubo: KuboProcess) -> None:
    """Measured here (2 busy cores): ~2 ms a block one request each, ~0.5 ms in batches."""
    one_each, batched = hamt_nodes(8_000), hamt_nodes(8_000)
    assert len(batched) > 100

    async def go() -> tuple[float, float]:
        async with KuboClient(kubo.api_url) as ipfs:
            started = time.monotonic()
            for block in one_each:
                await ipfs.block_put(block.data, codec=block.codec)
            single = time.monotonic() - started
            started = time.monotonic()
            await put_blocks(ipfs, batched)
            together = time.monotonic() - started
            for block in batched:
                assert await ipfs.block_stat(block.cid) == len(block.data)
            return single, together

    single, together = run(go, deadline=120)
    print(f"{len(batched)} blocks: one request each {single:.2f} s, batched {together:.2f} s")
    assert together < single


def test_a_block_kubo_stores_under_another_cid_is_an_infrastructure_error(
    kubo: KuboProcess,
) -> None:
    wrong = Block(raw_cid(b"something else"), b"these bytes", "raw")

    async def go() -> None:
        async with KuboClient(kubo.api_url) as ipfs:
            with pytest.raises(InfrastructureError, match="kubo stored a node as bafkrei"):
                await put_blocks(ipfs, [Block(raw_cid(b"ok"), b"ok", "raw"), wrong])

    run(go)
