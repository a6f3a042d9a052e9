"""Making a dataset against a kubo: the kubo calls around codsh/core/dataset.py, shared by
`codsh dataset new|add` (the user's kubo) and the orchestrator's /v1/datasets (its own kubo), so
both give the same CIDs after the same checks, with the same messages.

For each part, kubo's `files/stat` reads only the part's root block, which gives its type and its
cumulative DAG size (the link's Tsize); `dag/stat` would walk the whole DAG. No other block of a
part is fetched (a one-block file's root is the file itself). The directory node is computed
locally (codsh/core/dataset.py; HAMT-sharded past kubo's threshold, as `ipfs files cp` of
the same parts shards it), stored with `block put`, checked against kubo's CID and pinned
directly. trio and the kubo client load when a dataset is made, not for the CLI's API path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from codsh.core import dataset as ds
from codsh.core.merge import pin_batches
from codsh.core.unixfs import Link
from codsh.errors import CodshError, InputError, leaf

if TYPE_CHECKING:
    from codsh.ipfs.client import KuboClient

CONCURRENCY = 32  # parts stat'ed at once: each may wait for a remote provider


@dataclass(frozen=True)
class Made:
    """A new dataset: its CID, and how many parts were linked into it (of which directories)."""

    cid: str
    parts: int
    directories: int


def summary(parts: int, directories: int) -> str:
    """What `codsh dataset` says on stderr about the parts it linked."""
    return f"{parts} parts linked ({directories} directories, {parts - directories} files)"


async def make(
    ipfs: KuboClient,
    parts: Sequence[ds.Part],
    find_timeout: float,
    onto: str | None = None,
    replace: bool = False,
) -> Made:
    """The dataset of `parts` (with dataset `onto`'s parts first, when given; a name it already
    has is refused unless `replace`), stored and pinned on `ipfs`."""
    existing = [] if onto is None else await dataset_links(ipfs, onto, find_timeout)
    ds.check_names(existing, parts, replace)  # a clash is refused before any part is read
    links, directories = await resolve(ipfs, parts, find_timeout)
    cid = await store(ipfs, ds.combine(existing, links, replace) if onto is not None else links)
    return Made(cid, len(links), directories)


async def dataset_links(ipfs: KuboClient, source: str, find_timeout: float) -> list[Link]:
    """The links of existing dataset `source` (CID[/path]), from its root node (and its HAMT
    shards, when it is sharded): no part is read."""
    from codsh.inputs import explained

    timeout = f"{find_timeout:g}s"
    async with explained(source, find_timeout):
        info = await ipfs.files_stat(f"/ipfs/{source}", timeout=timeout)
        node = await ipfs.dag_get(str(info["Hash"]), timeout=timeout)
        links, shards = ds.shard_links(node, source, root=True)
        while shards:
            shard = shards.pop()
            more, deeper = ds.shard_links(await ipfs.dag_get(shard, timeout=timeout), shard)
            links += more
            shards += deeper
    return links


async def resolve(
    ipfs: KuboClient, parts: Sequence[ds.Part], find_timeout: float
) -> tuple[list[Link], int]:
    """Each part's link: its CID (a sub-path resolved) and cumulative size, several at a time;
    and how many of the parts are directories."""
    import trio

    from codsh.inputs import explained

    links: list[Link] = []
    kinds: list[str] = []
    limiter = trio.CapacityLimiter(CONCURRENCY)

    async def one(part: ds.Part) -> None:
        async with limiter:
            try:
                async with explained(part.source, find_timeout):
                    info = await ipfs.files_stat(
                        f"/ipfs/{part.source}", timeout=f"{find_timeout:g}s"
                    )
            except InputError as exc:
                raise InputError(f"part {part.name!r}: {exc.message}", exc.hint) from exc
        links.append(Link(str(info["Hash"]), part.name, int(info["CumulativeSize"])))
        kinds.append(str(info["Type"]))

    try:
        async with trio.open_nursery() as nursery:
            for part in parts:
                nursery.start_soon(one, part)
    except BaseExceptionGroup as group:  # the first part's error, as a plain CodshError
        found = leaf(group, CodshError)
        if found is None:
            raise
        raise found from None
    return links, kinds.count("directory")


async def store(ipfs: KuboClient, links: Sequence[Link]) -> str:
    """Store the dataset's node and pin it directly (`recursive=False`); return its CID.

    A recursive pin would make this kubo fetch every byte of every part, which is what linking by
    reference avoids. The parts stay pinned where they are, and jobs run their files there.
    """
    blocks, _ = ds.build_all(links)  # one node, or a HAMT's shards with the root last
    from codsh.ipfs.blocks import put_blocks

    await put_blocks(ipfs, blocks, "a dataset node")
    for cids in pin_batches(blocks):  # each node directly, never the parts under them
        await ipfs.pin_add(*cids, recursive=False)
    return blocks[-1].cid
