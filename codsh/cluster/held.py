"""Which of some CIDs a node's kubo stores, asked per CID: the inventory's cost follows the job's
CIDs, never the node's pins (listing every pin of a node with ~144k of them took 7-11 s a job).

Each CID is one offline `block/stat`, pipelined (ipfs/stored.py; `type=all` pin listings walk
every pinned DAG), ~0.3 ms per CID here (bench/inventory.py measures it against the pin count).
A question past BIG CIDs is answered from the node's BlockIndex instead: lookups in a list of
every block kubo stores, kept between rounds (bench/inventory.py --scale).
"""

from __future__ import annotations

import math
import threading
import time
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence

from codsh.core.unixfs import block_key, is_raw_block
from codsh.errors import CodshError
from codsh.ipfs.client import KuboClient
from codsh.ipfs.stored import KuboAnswerError as KuboAnswerError
from codsh.ipfs.stored import split_responses as split_responses
from codsh.ipfs.stored import stored

BIG = 2_000  # a question about more CIDs is answered from the node's block index
WALK_BATCH = 500  # blocks whose links one `refs` request lists, walking a new pin
MAX_AGE = 600.0  # seconds a block index is trusted before it is listed again


class BlockIndex:
    """Every block this node's kubo stores (from `refs local`), kept between inventory rounds, so
    a question about 100,000s of CIDs is lookups, not a request a CID (~0.3-1 ms each: 1,000,000
    files took 497 s a node, more than the round waits; listing 62,000 blocks takes ~2 s).

    Kept true enough: a recursive pin added since is walked offline and added, down to the blocks
    the index holds already (a new day's dataset shares its unchanged folders with the last
    one's: walking only what changed took its ~10,000 blocks a node down to ~100); the
    outputs the node pins itself are noted as it pins them; a pin gone, a walk that fails, or
    MAX_AGE passed lists every block again. What it can miss: a block cached since without a pin,
    or one a new pin brought under a block that was cached alone before (the node then fetches a
    file it had); what it can claim wrongly: a block a garbage
    collection removed since (off on codsh nodes; the file is fetched). Small questions ask kubo
    per CID, exactly. Shared by the node's threads (each round runs in its own trio loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sorted = array("Q")  # 8 bytes a block: 1,000,000 blocks in 8 MB
        self._extra: set[int] = set()
        self._roots: frozenset[str] = frozenset()
        self._built = -math.inf

    def note(self, blocks: Iterable[str], roots: Iterable[str] = ()) -> None:
        """The node pinned `blocks` directly and `roots` recursively itself: they are held, and
        no walk is needed."""
        roots = list(roots)
        with self._lock:
            self._extra.update(block_key(c) for c in [*blocks, *roots])
            self._roots = self._roots.union(roots)

    async def stored(self, api_url: str, cids: Sequence[str]) -> set[str]:
        """The CIDs among `cids` this node's kubo stores."""
        if len(cids) < BIG:
            return await stored(api_url, cids)
        await self._refresh(api_url)
        with self._lock:
            return {cid for cid in cids if self._has(block_key(cid))}

    async def freshen(self, api_url: str) -> bool:
        """Take in what was pinned since (or list every block again past MAX_AGE) between
        rounds, so a round after a new dataset pin does not walk it (~0.3-0.8 s for 10,000
        files); an index no big question built stays unbuilt. Whether there was one."""
        if self._built == -math.inf:
            return False
        await self._refresh(api_url)
        return True

    @property
    def roots(self) -> frozenset[str]:
        """The recursive pins whose blocks the index holds."""
        with self._lock:
            return self._roots

    def _has(self, key: int) -> bool:
        at = bisect_left(self._sorted, key)
        return (at < len(self._sorted) and self._sorted[at] == key) or key in self._extra

    async def _refresh(self, api_url: str) -> None:
        async with KuboClient(api_url) as ipfs:
            roots = frozenset(await ipfs.pin_ls(kind="recursive"))
            with self._lock:
                fresh = time.monotonic() - self._built < MAX_AGE and self._roots <= roots
                new = roots - self._roots
            if fresh:
                try:  # the DAGs pinned since, walked on this kubo alone
                    keys = await self._unknown_blocks(ipfs, sorted(new))
                except CodshError:  # a block under one is not here: list every block instead
                    fresh = False
                else:
                    with self._lock:
                        self._extra.update(keys)
                        self._roots = self._roots | new
                    return
            listed = [block_key(cid) async for cid in ipfs.refs()]
            blocks = array("Q", sorted(set(listed)))
            with self._lock:
                self._sorted, self._extra, self._roots = blocks, set(), roots
                self._built = time.monotonic()

    async def _unknown_blocks(self, ipfs: KuboClient, roots: Sequence[str]) -> list[int]:
        """The blocks under `roots` the index lacks, walked level by level (a request per
        WALK_BATCH blocks of a level). A block it holds is not walked below: the pin walked or
        listed with it gave its DAG too (a DAG output the node noted is its root alone: its inner
        blocks stay unknown, and no question is about them). A raw block links nothing."""
        keys: list[int] = []
        seen: set[int] = set()
        level = list(roots)
        while level:
            unknown = []
            with self._lock:
                for cid in level:
                    key = block_key(cid)
                    if key not in seen and not self._has(key):
                        seen.add(key)
                        keys.append(key)
                        unknown.append(cid)
            below = [cid for cid in unknown if not is_raw_block(cid)]
            level = []
            for start in range(0, len(below), WALK_BATCH):
                level += [c async for c in ipfs.links(below[start : start + WALK_BATCH])]
        return keys
