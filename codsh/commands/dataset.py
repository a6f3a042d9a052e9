"""`codsh dataset new|add`: one dataset CID over many CIDs, linked by reference, nothing copied.

The kubo calls are codsh/jobs/datasets.py's, on the user's kubo; with CODSH_API set, the parts are
read and checked here (arguments and list files) and the orchestrator makes the dataset on its kubo
(POST /v1/datasets), after the same checks: the same CID either way.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from codsh.client.api import ApiClient
from codsh.commands.settings import Settings, pass_settings, run_async
from codsh.core import dataset as ds
from codsh.core.spec import DEFAULT_FIND_TIMEOUT, check_input
from codsh.errors import InputError
from codsh.jobs.datasets import summary


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
    click.echo(make(settings, requested(entries, lists), find_timeout))


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
    click.echo(make(settings, requested(entries, lists), find_timeout, source, replace))


def make(
    settings: Settings,
    parts: Sequence[ds.Part],
    find_timeout: float,
    onto: str | None = None,
    replace: bool = False,
) -> str:
    """Make the dataset (on the orchestrator's kubo when CODSH_API is set); say how many parts
    were linked; its CID."""
    api = ApiClient.from_env()
    if api is not None:
        made = api.dataset({p.name: p.source for p in parts}, onto, replace, find_timeout)
        cid, linked, directories = str(made["cid"]), int(made["parts"]), int(made["directories"])
    else:
        from codsh.jobs import datasets

        async def go() -> datasets.Made:
            async with settings.kubo() as ipfs:
                return await datasets.make(ipfs, parts, find_timeout, onto, replace)

        done = run_async(go)
        cid, linked, directories = done.cid, done.parts, done.directories
    click.echo(summary(linked, directories), err=True)
    return cid


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
