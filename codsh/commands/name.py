"""`codsh name ls / resolve`: the stable names that named jobs publish (IPNS keys of the driver's
kubo, or of the orchestrator's with CODSH_API)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from codsh.client.api import ApiClient
from codsh.commands.settings import Settings, run_async


@click.group()
def name() -> None:
    """Stable names: a job's --name NAME points /ipns/KEY at its latest complete output."""


@name.command(name="ls")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per name.")
def ls_command(as_json: bool) -> None:
    """The names published from here (or, with CODSH_API, on the orchestrator): each one's
    current CID, IPNS key and the job that set it. `-c NAME` or `-c /ipns/KEY` reads it."""
    api = ApiClient.from_env()
    if api is not None:
        names: list[dict[str, Any]] = api.call("GET", "/v1/names")["names"]
    else:
        from codsh.names import NameStore

        with NameStore() as store:
            names = [n.as_dict() for n in store.all()]
    if as_json:
        for entry in names:
            click.echo(json.dumps(entry, ensure_ascii=False))
        return
    click.echo(f"{'NAME':16}  {'CID':59}  {'PUBLISHED':14}  {'JOB':12}  IPNS")
    for entry in names:
        published = time.strftime("%m-%d %H:%M:%S", time.localtime(entry["published"]))
        click.echo(
            f"{entry['name']:16}  {entry['cid']:59}  {published:14}  {entry['job']:12}  "
            f"/ipns/{entry['key']}"
        )


@name.command()
@click.argument("path", metavar="NAME|/ipns/KEY")
def resolve(path: str) -> None:
    """Print the CID a name (or /ipns/ path) points at now, e.g. `codsh cat $(codsh name resolve
    nightly)`; the same resolution as `-c NAME`."""
    from codsh.commands.input_cid import resolve_input

    click.echo(resolve_input(path))


def publish_after(settings: Settings, job_id: str) -> None:
    """After a named job ended here: move its name to its output (or say why not), on stderr."""
    from codsh.config import jobs_db
    from codsh.jobs.store import JobStore
    from codsh.names import publish_job

    with JobStore(jobs_db()) as store:
        if not store.get(job_id).name:
            return

        async def go() -> str | None:
            async with settings.kubo() as ipfs:
                return await publish_job(ipfs, store, job_id)

        message = run_async(go)
    if message:
        click.echo(message, err=True)
        sys.stderr.flush()
