"""How a node keeps its outputs (cluster/keep.py), against a real kubo: a garbage collection
takes none of them, pinned one by one or under holder nodes."""

from __future__ import annotations

import uuid

import pytest

from codsh.cluster.keep import LINKS, ONE_BY_ONE, keep_outputs
from codsh.core.model import FileResult
from codsh.ipfs.client import AddOptions, KuboClient
from codsh.kubo_daemon import KuboProcess
from tests.conftest import IpfsCall, ipfs_call, ipfs_cli

__all__ = ["ipfs_call"]  # the fixture, used by name


async def outputs(ipfs: KuboClient, count: int, big: bool) -> list[FileResult]:
    """`count` outputs stored unpinned (one of them past a chunk when `big`: a DAG of blocks)."""
    tag = uuid.uuid4().hex
    results = []
    for index in range(count):
        data = f"output {index} {tag}\n".encode() * (30_000 if big and index == 0 else 1)
        added = await ipfs.add_bytes(data, AddOptions(pin=False))
        results.append(FileResult(f"f{index}", "bafkin", 1, 0, added.cid, len(data), len(data)))
    results.append(FileResult("failed", "bafkin", 1, None, None, 0, 0))  # no output: nothing
    return results


@pytest.mark.parametrize("count", [ONE_BY_ONE, ONE_BY_ONE + 1, LINKS + 5])
def test_outputs_survive_a_garbage_collection(
    count: int, kubo: KuboProcess, ipfs_call: IpfsCall
) -> None:
    async def keep(ipfs: KuboClient) -> tuple[list[FileResult], list[str], list[str]]:
        results = await outputs(ipfs, count, big=True)
        return (results, *await keep_outputs(ipfs, results))

    results, held, roots = ipfs_call(keep)
    made = {r.output_cid for r in results if r.output_cid}
    ipfs_cli(kubo, "repo", "gc")
    assert ipfs_call(lambda ipfs: _all_stored(ipfs, sorted(made)))
    recursive = ipfs_cli(kubo, "pin", "ls", "--type=recursive", "-q").decode().split()
    assert set(roots) <= set(recursive)
    if count <= ONE_BY_ONE:  # each its own pin: the DAG recursively, the rest directly
        assert len(roots) == 1 and set(held) | set(roots) == made
    else:  # one recursive pin per LINKS outputs
        assert set(held) == made and len(roots) == -(-count // LINKS)
        assert not set(roots) & made


async def _all_stored(ipfs: KuboClient, cids: list[str]) -> bool:
    return all([await ipfs.has_block(cid) for cid in cids])
