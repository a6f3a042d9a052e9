"""Which of some CIDs a node's kubo stores, asked per CID: the inventory's cost follows the job's
CIDs, never the node's pins (listing every pin of a node with ~144k of them took 7-11 s a job).

kubo has no batched "do you have these blocks": `pin ls --arg A --arg B` stops at the first one
not pinned, and `type=all` walks every pinned DAG to find indirect pins. So each CID is one
offline `block/stat` (found locally or not, never fetched), and the requests are pipelined on one
HTTP/1.1 connection, WINDOW at a time: ~0.3 ms per CID here, three times less than one request
at a time through the kubo client (bench/inventory.py measures both against the pin count).
A question past BIG CIDs is answered from the node's BlockIndex instead: lookups in a list of
every block kubo stores, kept between rounds (bench/inventory.py --scale).
"""

from __future__ import annotations

import math
import threading
import time
from array import array
from bisect import bisect_left
from collections.abc import AsyncIterator, Iterable, Sequence
from urllib.parse import quote, urlsplit

import trio

from codsh.core.unixfs import block_key
from codsh.errors import CodshError
from codsh.ipfs.client import KuboClient

WINDOW = 32  # requests in flight on the connection (kubo closes it when sent thousands at once)
RETRIES = 3  # connections reopened when kubo closes one before answering everything
BIG = 2_000  # a question about more CIDs is answered from the node's block index
MAX_AGE = 600.0  # seconds a block index is trusted before it is listed again


class KuboAnswerError(RuntimeError):
    """kubo answered in a way this reader does not understand (not a stored/not-stored answer)."""


async def stored(api_url: str, cids: Sequence[str]) -> set[str]:
    """The CIDs among `cids` whose block is in the kubo at `api_url`'s own store."""
    parts = urlsplit(api_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5001
    found: set[str] = set()
    rest = list(dict.fromkeys(cids))
    for _ in range(RETRIES):
        if not rest:
            break
        answered = await _ask(host, port, parts.netloc, rest, found)
        rest = rest[answered:]
    if rest:
        raise KuboAnswerError(f"kubo at {api_url} closed the connection {RETRIES} times")
    return found


async def _ask(host: str, port: int, netloc: str, cids: list[str], found: set[str]) -> int:
    """Ask about `cids` in order on one connection; returns how many were answered."""
    requests = [
        (
            f"POST /api/v0/block/stat?arg={quote(cid)}&offline=true HTTP/1.1\r\n"
            f"Host: {netloc}\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        for cid in cids
    ]
    answered = 0
    async with await trio.open_tcp_stream(host, port) as stream:
        sent = min(WINDOW, len(requests))
        await stream.send_all(b"".join(requests[:sent]))
        buffer = b""
        while answered < len(cids):
            chunk = await stream.receive_some(65536)
            if not chunk:
                return answered
            buffer += chunk
            statuses, buffer = split_responses(buffer)
            for status in statuses:
                if status == 200:
                    found.add(cids[answered])
                elif status != 500:  # 500: "block was not found locally (offline)"
                    raise KuboAnswerError(f"kubo answered block/stat with HTTP {status}")
                answered += 1
            more = requests[sent : answered + WINDOW]
            if more:
                sent += len(more)
                await stream.send_all(b"".join(more))
    return answered


class BlockIndex:
    """Every block this node's kubo stores (from `refs local`), kept between inventory rounds, so
    a question about 100,000s of CIDs is lookups, not a request a CID (~0.3-1 ms each: 1,000,000
    files took 497 s a node, more than the round waits; listing 62,000 blocks takes ~2 s).

    Kept true enough: a recursive pin added since is walked offline (`refs -r`) and added, the
    outputs the node pins itself are noted as it pins them; a pin gone, a walk that fails, or
    MAX_AGE passed lists every block again. What it can miss: a block cached since without a pin
    (the node then fetches a file it had); what it can claim wrongly: a block a garbage
    collection removed since (off on codsh nodes; the file is fetched). Small questions ask kubo
    per CID, exactly. Shared by the node's threads (each round runs in its own trio loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sorted = array("Q")  # 8 bytes a block: 1,000,000 blocks in 8 MB
        self._extra: set[int] = set()
        self._roots: frozenset[str] = frozenset()
        self._built = -math.inf

    def note(self, cids: Iterable[str]) -> None:
        """The node pinned `cids` (recursively) itself: they are held, and no walk is needed."""
        cids = list(cids)
        with self._lock:
            self._extra.update(block_key(c) for c in cids)
            self._roots = self._roots.union(cids)

    async def stored(self, api_url: str, cids: Sequence[str]) -> set[str]:
        """The CIDs among `cids` this node's kubo stores."""
        if len(cids) < BIG:
            return await stored(api_url, cids)
        await self._refresh(api_url)
        with self._lock:
            return {cid for cid in cids if self._has(block_key(cid))}

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
                    keys = [block_key(c) for root in new async for c in _dag(ipfs, root)]
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


async def _dag(ipfs: KuboClient, root: str) -> AsyncIterator[str]:
    yield root
    async for cid in ipfs.refs(root):
        yield cid


def split_responses(buffer: bytes) -> tuple[list[int], bytes]:
    """The statuses of the complete HTTP/1.1 responses at the start of `buffer`, and the rest."""
    statuses: list[int] = []
    while (end := _response_end(buffer)) is not None:
        statuses.append(int(buffer.split(b" ", 2)[1]))
        buffer = buffer[end:]
    return statuses, buffer


def _response_end(buffer: bytes) -> int | None:
    """Where the first response of `buffer` ends (chunked or with a length), None if incomplete."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = buffer[:head_end].lower()
    position = head_end + 4
    if b"transfer-encoding: chunked" not in head:
        length = 0
        for line in head.split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return position + length if len(buffer) >= position + length else None
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(buffer[position:line_end].split(b";")[0], 16)
        if size == 0:  # the last chunk, then trailers (kubo's X-Stream-Error) and an empty line
            if buffer[line_end + 2 : line_end + 4] == b"\r\n":
                return line_end + 4
            trailers_end = buffer.find(b"\r\n\r\n", line_end + 2)
            return trailers_end + 4 if trailers_end >= 0 else None
        position = line_end + 2 + size + 2
        if len(buffer) < position:
            return None
