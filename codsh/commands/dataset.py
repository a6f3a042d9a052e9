"""`codsh dataset new|add`: one dataset CID over many CIDs, linked by reference, nothing copied.

For each part, kubo's `files/stat` reads only the part's root block, which gives its type and its
cumulative DAG size (the link's Tsize); `dag/stat` would walk the whole DAG. No other block of a
part is fetched (a one-block file's root is the file itself). The directory node is computed
locally (codsh/dataset.py), stored with `block put`, checked against kubo's CID and pinned directly.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from codsh.commands.settings import Settings, pass_settings, run_async
from codsh.core import dataset as ds
from codsh.core.spec import DEFAULT_FIND_TIMEOUT, check_input
from codsh.core.unixfs import Link
from codsh.errors import InfrastructureError, InputError

if TYPE_CHECKING:  # the kubo client (httpcore, trio) loads when a command runs, not for --help
    from codsh.ipfs.client import KuboClient

CONCURRENCY = 32  # parts stat'ed at once: each may wait for a remote provider


@click.group()
def dataset() -> None:
    """Datasets made of many CIDs: one directory CID linking them, so one job runs over all."""


_entries = click.argument("entries", nargs=-1, metavar="NAME=CID...")
_from_file = click.option(
    "--from-file",
    "lists",
    multiple=True,
    metavar="LIST",
    help="Read parts from LIST ('-' for stdin): one `NAME=CID` or `NAME CID` per line, # comments.",
)
_find_timeout = click.option(
    "--find-timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    default=DEFAULT_FIND_TIMEOUT,
    show_default=True,
    help="Seconds to look for each CID before giving up.",
)


@dataset.command()
@_entries
@_from_file
@_find_timeout
@pass_settings
def new(
    settings: Settings, entries: tuple[str, ...], lists: tuple[str, ...], find_timeout: float
) -> None:
    """Link the parts NAME=CID into a new dataset; print its CID.

    Each part is a file or directory CID (or CID/path) and becomes the dataset's entry NAME (one
    path component). No byte is copied and only each part's root block is read: each part stays
    on the nodes that hold it, and a job over the dataset runs each part's files there.
    """
    parts = requested(entries, lists)

    async def go() -> str:
        async with settings.kubo() as ipfs:
            links = await resolve(ipfs, parts, find_timeout)
            return await store(ipfs, links)

    click.echo(run_async(go))


@dataset.command(name="add")
@click.argument("dataset_cid", metavar="DATASET")
@_entries
@_from_file
@click.option("--replace", is_flag=True, help="Point names the dataset already has at new CIDs.")
@_find_timeout
@pass_settings
def add(
    settings: Settings,
    dataset_cid: str,
    entries: tuple[str, ...],
    lists: tuple[str, ...],
    replace: bool,
    find_timeout: float,
) -> None:
    """Add the parts NAME=CID to DATASET, as a new dataset; print its CID.

    DATASET itself is unchanged (a CID never changes); a NAME it already has is refused unless
    --replace is given.
    """
    source = check_input(dataset_cid)
    parts = requested(entries, lists)

    async def go() -> str:
        from codsh.inputs import explained

        async with settings.kubo() as ipfs:
            timeout = f"{find_timeout:g}s"
            async with explained(source, find_timeout):
                info = await ipfs.files_stat(f"/ipfs/{source}", timeout=timeout)
                node = await ipfs.dag_get(str(info["Hash"]), timeout=timeout)
            existing = ds.dataset_links(node, source)
            links = await resolve(ipfs, parts, find_timeout)
            return await store(ipfs, ds.combine(existing, links, replace))

    click.echo(run_async(go))


def requested(entries: Sequence[str], lists: Sequence[str]) -> list[ds.Part]:
    """The parts named on the command line and in list files, checked, before any kubo call."""
    parts = [ds.parse_argument(text, f"argument {text!r}") for text in entries]
    for name in lists:
        parts += ds.parse_list(read_list(name), "stdin" if name == "-" else name)
    if not parts:
        raise InputError("no parts given", "name them as NAME=CID arguments or with --from-file")
    ds.check_unique(parts)
    return parts


def read_list(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"no such file: {name}", "give a list file with one NAME=CID per line"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"cannot read {name}: {exc}", "give a UTF-8 text file with one NAME=CID per line"
        ) from exc


async def resolve(ipfs: KuboClient, parts: Sequence[ds.Part], find_timeout: float) -> list[Link]:
    """Each part's link: its CID (a sub-path resolved) and cumulative size, several at a time."""
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

    async with trio.open_nursery() as nursery:
        for part in parts:
            nursery.start_soon(one, part)
    directories = kinds.count("directory")
    click.echo(
        f"{len(links)} parts linked ({directories} directories, {len(links) - directories} files)",
        err=True,
    )
    return links


async def store(ipfs: KuboClient, links: Sequence[Link]) -> str:
    """Store the dataset's node and pin it directly (`recursive=False`); return its CID.

    A recursive pin would make this kubo fetch every byte of every part, which is what linking by
    reference avoids. The parts stay pinned where they are, and jobs run their files there.
    """
    block, _ = ds.build(links)
    stored = await ipfs.block_put(block.data, codec=block.codec)
    if stored != block.cid:
        raise InfrastructureError(
            f"kubo stored the dataset node as {stored}, expected {block.cid}",
            "report this: codsh and kubo disagree on the encoding",
        )
    await ipfs.pin_add(block.cid, recursive=False)
    return block.cid
