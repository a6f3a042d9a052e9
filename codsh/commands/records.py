"""`codsh job list` and `codsh job describe`: the records of jobs run from this machine."""

from __future__ import annotations

import json
import time

import click

from codsh.config import jobs_db
from codsh.jobs import JobStore


@click.command(name="list")
@click.option("-n", "--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per job.")
def list_command(limit: int, as_json: bool) -> None:
    """The jobs run from this machine, newest first."""
    store = JobStore(jobs_db())
    records = store.recent(limit)
    store.close()
    if as_json:
        for record in records:
            click.echo(json.dumps(record.as_dict(), ensure_ascii=False))
        return
    click.echo(
        f"{'ID':12}  {'STATE':11}  {'STARTED':14}  {'FILES':>6}  {'FAILED':>6}  {'OUTPUT':59}  COMMAND"
    )
    for record in records:
        started = time.strftime("%m-%d %H:%M:%S", time.localtime(record.created))
        files = "-" if record.files is None else str(record.files)
        failed = "-" if record.failed is None else str(record.failed)
        output = record.output or "-"
        line = (
            f"{record.id:12}  {record.state:11}  {started:14}  {files:>6}  {failed:>6}  {output:59}"
        )
        click.echo(f"{line}  {record.command}")


@click.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True)
def describe(job_id: str, as_json: bool) -> None:
    """Everything recorded about one job (an ID prefix is enough)."""
    store = JobStore(jobs_db())
    try:
        record = store.get(job_id)
    finally:
        store.close()
    fields = record.as_dict()
    if as_json:
        click.echo(json.dumps(fields, ensure_ascii=False))
        return
    for name in ("id", "state", "command", "input", "mode", "runs_on", "output", "manifest"):
        click.echo(f"{name + ':':10} {fields[name] if fields[name] is not None else '-'}")
    click.echo(
        f"{'files:':10} {fields['files']} ({fields['failed']} failed) in {fields['seconds']} s"
    )
    if fields["placement"]:
        placement = fields["placement"]
        click.echo(
            f"{'locality:':10} {placement['locality']} ({placement['bytes_moved']} bytes to move)"
        )
        click.echo(
            f"{'shards:':10} {placement['shards_per_node']} ({placement['rescheduled']} rescheduled)"
        )
    if fields["error"]:
        click.echo(f"{'error:':10} {fields['error']}")
    if fields["manifest"]:
        click.echo(f"per-file exit codes, stderr and timings: codsh cat {fields['manifest']}")
