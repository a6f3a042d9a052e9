"""Data commands: `add`, `ls`, `cat`, `get` against the configured kubo."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from codsh.client.api import ApiClient
from codsh.commands.input_cid import read_input_cid
from codsh.commands.settings import Settings, pass_settings, run_async
from codsh.completion import cids
from codsh.errors import InputError

if TYPE_CHECKING:
    pass

# The kubo client (httpcore, trio) is imported in the commands, not here: `--help` and
# completion load this module and must stay fast.


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--wrap", is_flag=True, help="Wrap all paths in one directory; print only its CID.")
@click.option("--cid-version", type=click.IntRange(0, 1), default=1, show_default=True)
@click.option("--raw-leaves/--no-raw-leaves", default=True, show_default=True)
@click.option("--chunker", default="size-262144", show_default=True)
@click.option("--pin/--no-pin", default=True, show_default=True)
@click.option("--only-hash", is_flag=True, help="Compute CIDs without storing anything.")
@pass_settings
def add(
    settings: Settings,
    paths: tuple[Path, ...],
    wrap: bool,
    cid_version: int,
    raw_leaves: bool,
    chunker: str,
    pin: bool,
    only_hash: bool,
) -> None:
    """Add files or directories; print one CID per PATH (canonical settings by default)."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputError(f"no such file or directory: {', '.join(missing)}", "check the path")
    names = [p.resolve().name for p in paths]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(
            f"several paths are named {', '.join(map(repr, repeated))}; kubo adds each under its name",
            "add them one at a time, or put them in differently named folders",
        )
    api = ApiClient.from_env()
    if api is not None:  # through the orchestrator's kubo, with the canonical options
        if (wrap, cid_version, raw_leaves, chunker, pin, only_hash) != (
            False,
            1,
            True,
            "size-262144",
            True,
            False,
        ):
            raise InputError(
                "add options other than the defaults are not taken by the orchestrator",
                "leave them out (its CIDs are those of the defaults), or add without CODSH_API",
            )
        from codsh.commands import remote

        remote.add(api, paths)
        return
    from codsh.ipfs.client import AddOptions, KuboError

    options = AddOptions(cid_version, raw_leaves, pin, only_hash, wrap, chunker)

    async def go() -> list[str]:
        import trio

        from codsh.ipfs.sources import read_entries, scan
        from codsh.progress import AddProgress

        items = await trio.to_thread.run_sync(scan, [p.resolve() for p in paths])
        files = [item for item in items if item.path is not None]
        async with settings.kubo() as ipfs:
            with AddProgress(len(files), sum(f.size for f in files)) as progress:
                results = await ipfs.add(read_entries(items), options, on_sent=progress.sent)
        by_name = {r.name: r.cid for r in results}
        wanted = [""] if wrap else names
        if not all(name in by_name for name in wanted):
            raise KuboError("add", "kubo did not report a CID for every path")
        return [by_name[name] for name in wanted]

    for cid in run_async(go):
        click.echo(cid)


@click.command(name="ls")
@click.argument("path", required=False, shell_complete=cids)
@click.option("-r", "--recursive", is_flag=True, help="List the whole tree.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per entry.")
@pass_settings
def ls_command(settings: Settings, path: str | None, recursive: bool, as_json: bool) -> None:
    """List a directory CID[/path] (or one piped on stdin): CID, size and name of each entry."""
    path = read_input_cid(path)
    api = ApiClient.from_env()
    if api is not None:
        entries = api.ls(path, recursive)["entries"]
    else:

        async def go() -> list[dict[str, Any]]:
            from codsh.inputs import entry_dict, list_entries

            async with settings.kubo() as ipfs:
                return [entry_dict(e) for e in (await list_entries(ipfs, path, recursive))[1]]

        entries = run_async(go)
    for entry in entries:
        if as_json:
            click.echo(json.dumps(entry, ensure_ascii=False))
        else:
            name = entry["path"] + ("/" if entry["dir"] else "")
            shown = name if name.isprintable() else json.dumps(name, ensure_ascii=False)
            click.echo(f"{entry['cid']}  {entry['size']:>12}  {shown}")


@click.command()
@click.argument("path", required=False, shell_complete=cids)
@pass_settings
def cat(settings: Settings, path: str | None) -> None:
    """Write the bytes of a file CID[/path] (or one piped on stdin) to stdout, streaming."""
    path = read_input_cid(path)
    out = sys.stdout.buffer
    api = ApiClient.from_env()

    async def go() -> None:
        from codsh.inputs import stat_input

        async with settings.kubo() as ipfs:
            root = await stat_input(ipfs, path)
            if root.is_dir:
                raise InputError(
                    f"{path} is a directory",
                    "list it with `codsh ls`, or fetch it with `codsh get`",
                )
            async for chunk in ipfs.cat(path):
                out.write(chunk)
        out.flush()

    try:
        if api is not None:
            out.writelines(api.cat(path))
            out.flush()
        else:
            run_async(go)
    except BrokenPipeError:  # `codsh cat CID | head`: the reader left; end quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)


@click.command()
@click.argument("path", required=False, shell_complete=cids)
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Where to write [default: the CID]."
)
@pass_settings
def get(settings: Settings, path: str | None, output: Path | None) -> None:
    """Download a CID[/path] (or one piped on stdin), file or directory tree, to disk."""
    path = read_input_cid(path)
    target: Path = output or Path(path.replace("/", "_"))
    api = ApiClient.from_env()
    if api is not None:
        from codsh.commands import remote

        count = remote.get(api, path, target)
        click.echo(f"{count} files written to {target}", err=True)
        return

    async def go() -> int:
        from codsh.inputs import list_input
        from codsh.ipfs.sinks import safe_join, write_file

        async with settings.kubo() as ipfs:
            tree = await list_input(ipfs, path)
            is_dir = tree.directories or not (len(tree.files) == 1 and tree.files[0].path == "")
            if is_dir:
                target.mkdir(parents=True, exist_ok=True)
            for directory in tree.directories:
                safe_join(target, directory).mkdir(parents=True, exist_ok=True)
            for file in tree.files:
                await write_file(ipfs, file.cid, safe_join(target, file.path))
            return len(tree.files)

    count = run_async(go)
    click.echo(f"{count} files written to {target}", err=True)
