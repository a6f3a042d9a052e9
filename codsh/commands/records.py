"""`codsh job list / describe / logs / wait / cancel`: the jobs run from this machine."""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import time
from typing import Any

import click

from codsh.client.api import ApiClient
from codsh.commands.settings import Settings, pass_settings, run_async
from codsh.completion import job_ids
from codsh.config import jobs_db
from codsh.errors import InputError
from codsh.jobs.states import FINAL, RUNNING
from codsh.jobs.store import JobRecord, JobStore


def load(job_id: str) -> JobRecord:
    store = JobStore(jobs_db())
    try:
        return store.get(job_id)
    finally:
        store.close()


@click.command(name="list")
@click.option("-n", "--limit", type=int, default=20, show_default=True)
@click.option("--name", metavar="NAME", help="Only the runs of the job named NAME.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per job.")
def list_command(limit: int, name: str | None, as_json: bool) -> None:
    """The jobs run from this machine (or, with CODSH_API, yours on the orchestrator), newest
    first (a pipeline's stages are jobs ID-1, ID-2...)."""
    api = ApiClient.from_env()
    if api is not None:
        records = api.jobs(limit, name)
    else:
        with JobStore(jobs_db()) as store:
            records = [r.as_dict() for r in store.recent(limit, name)]
    if as_json:
        for record in records:
            click.echo(json.dumps(record, ensure_ascii=False))
        return
    click.echo(
        f"{'ID':12}  {'STATE':11}  {'STARTED':14}  {'FILES':>6}  {'FAILED':>6}  {'OUTPUT':59}  COMMAND"
    )
    for record in records:
        started = time.strftime("%m-%d %H:%M:%S", time.localtime(record["created"]))
        files = "-" if record["files"] is None else str(record["files"])
        failed = "-" if record["failed"] is None else str(record["failed"])
        output = record["output"] or "-"
        line = f"{record['id']:12}  {record['state']:11}  {started:14}  {files:>6}  {failed:>6}"
        command = " ".join(record["command"].split())  # a fused step spans lines
        click.echo(f"{line}  {output:59}  {command}")


@click.command()
@click.argument("job_id", shell_complete=job_ids)
@click.option("--json", "as_json", is_flag=True)
def describe(job_id: str, as_json: bool) -> None:
    """Everything recorded about one job (an ID prefix or its --name is enough), with its progress
    so far; for a pipeline, each stage's input and output CIDs (its lineage)."""
    api = ApiClient.from_env()
    if api is not None:
        show(api.job(job_id), as_json)
        return
    store = JobStore(jobs_db())
    try:
        record = store.get(job_id)
        fields = record.as_dict()
        # a pipeline's per-file results are its stages' (jobs ID-1, ID-2, ...)
        jobs = [s["job"] for s in fields["stages"] or []] if record.mode == "pipeline" else []
        results = {
            (job, path): result
            for job in jobs or [record.id]
            for path, result in store.results(job).items()
        }
    finally:
        store.close()
    fields["files_recorded"] = len(results)
    fields["bill"] = bill_of(results.values())
    fields["failures"] = [
        {"path": r.path, "node": r.node, "error": r.error, **({"job": job} if jobs else {})}
        for (job, _), r in results.items()
        if not r.ok
    ]
    show(fields, as_json)


def show(fields: dict[str, Any], as_json: bool) -> None:  # long: one line per recorded field
    """Print a job's record (`job describe`): from the local store or the orchestrator alike."""
    if as_json:
        click.echo(json.dumps(fields, ensure_ascii=False))
        return
    for name in ("id", "name", "state", "command", "input", "mode", "runs_on", "output"):
        click.echo(f"{name + ':':10} {fields[name] if fields[name] is not None else '-'}")
    click.echo(f"{'manifest:':10} {fields['manifest'] or '-'}")
    if fields["files"] is None:
        click.echo(f"{'progress:':10} {fields['files_recorded']} files done so far")
    else:
        reused = f", {fields['reused']} reused" if fields["reused"] else ""
        click.echo(
            f"{'files:':10} {fields['files']} ({fields['failed']} failed{reused}) "
            f"in {fields['seconds']} s"
        )
    for stage in fields["stages"] or []:
        click.echo(
            f"{'stage ' + str(stage['stage']) + ':':10} {stage['command']}  [job {stage['job']}]\n"
            f"{'':10}   {stage['input']} -> {stage['output']}  "
            f"({stage['files']} files, {stage['failed']} failed, {stage['reused']} reused)"
        )
    if fields["placement"]:
        placement = fields["placement"]
        click.echo(
            f"{'locality:':10} {placement['locality']} ({placement['bytes_moved']} bytes moved)"
        )
        click.echo(
            f"{'shards:':10} {placement['shards_per_node']} ({placement['rescheduled']} rescheduled)"
        )
        if "files_per_node" in placement:  # where the files ran (records since issue 16)
            lost = f", {placement['not_run']} ran nowhere" if placement.get("not_run") else ""
            click.echo(f"{'ran on:':10} {placement['files_per_node']} (files{lost})")
    for line in bill_lines(fields.get("bill")):
        click.echo(line)
    if fields["error"]:
        click.echo(f"{'error:':10} {fields['error']}")
    for failure in fields["failures"][:10]:
        where = f" on {failure['node']}" if failure["node"] else ""
        where += f" in job {failure['job']}" if "job" in failure else ""
        click.echo(
            f"{'failed:':10} {failure['path'] or '(the input file)'}{where}: {failure['error']}"
        )
    if len(fields["failures"]) > 10:
        click.echo(
            f"{'':10} ... {len(fields['failures']) - 10} more (`codsh job logs {fields['id']}`)"
        )
    if fields["manifest"]:
        click.echo(f"per-file exit codes, stderr and timings: codsh job logs {fields['id']}")


def bill_of(results: Any) -> dict[str, Any]:
    from codsh.core.bill import bill

    return bill(results)


def bill_lines(bill: dict[str, Any] | None) -> list[str]:
    """Per node what its runs used and cost (replicas included), then the total."""
    if not bill or not bill["nodes"]:
        return []
    lines = []
    for node, use in sorted(bill["nodes"].items()):
        lines.append(
            f"{'used:':10} {node}: {use['files']} runs, {use['cpu_seconds']:.3f} cpu-s, "
            f"peak {_bytes(use['peak_memory'])}, read {_bytes(use['bytes_read'])}, "
            f"fetched {_bytes(use['bytes_fetched'])}, wrote {_bytes(use['bytes_written'])}, "
            f"{use['seconds']:.2f} s, {use['container_starts']} container starts"
            + (f", fuel {use['fuel']}" if use.get("fuel") else "")
            + f"; cost {use['cost']:.6g}"
        )
    replication = f" ({bill['replication']:.6g} of it for replicas)" if bill["replication"] else ""
    lines.append(f"{'bill:':10} {bill['total']:.6g}{replication}")
    return lines


def _bytes(count: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{int(count)} B"


@click.command()
@click.argument("job_id", shell_complete=job_ids)
@click.option(
    "--file", "path", metavar="PATH", help="Only this file (its path in the input); full stderr."
)
@click.option(
    "--failed",
    "only_failed",
    is_flag=True,
    help="Only the files that failed (not ok, not no match).",
)
@click.option("--json", "as_json", is_flag=True, help="The manifest's file entries, one JSON each.")
@pass_settings
def logs(
    settings: Settings, job_id: str, path: str | None, only_failed: bool, as_json: bool
) -> None:
    """Per file: outcome, exit code, time, node, error and stderr, from the job's manifest
    (`--failed`: only the files that failed, what a failure summary points to)."""
    api = ApiClient.from_env()
    record = api.job(job_id) if api is not None else load(job_id).as_dict()
    if not record["manifest"]:
        raise InputError(
            f"job {record['id']} has no manifest ({record['state']})",
            "a job writes its manifest when it ends; see `codsh job describe`",
        )

    def read(cid: str) -> bytes:
        if api is not None:
            return b"".join(api.cat(cid))

        async def local() -> bytes:
            async with settings.kubo() as ipfs:
                return b"".join([chunk async for chunk in ipfs.cat(cid)])

        return run_async(local)

    from codsh.core.manifest import every_file

    manifest_of = functools.cache(lambda cid: json.loads(read(cid)))  # kept folders' share one
    files = every_file(manifest_of(record["manifest"]), manifest_of)
    if only_failed:
        files = [f for f in files if failed(f)]
        if not files:
            click.echo(f"job {record['id']}: no file failed", err=True)
    if path is not None:
        files = [f for f in files if f["path"] == path.strip("/")]
        if not files:
            raise InputError(
                f"job {record['id']} has no file {path!r}", "`codsh job logs ID` lists them"
            )
    for entry in files:
        if as_json:
            click.echo(json.dumps(entry, ensure_ascii=False))
            continue
        where = f" on {entry['node']}" if entry.get("node") else ""
        status = f"exit {entry['exit_code']}" if entry["exit_code"] is not None else "no exit code"
        outcome = f" ({entry['outcome']})" if entry.get("outcome") else ""
        click.echo(
            f"== {entry['path'] or '(the input file)'}: {status}{outcome}, {entry['seconds']}s{where}"
        )
        if entry["error"]:
            click.echo(f"   error: {entry['error']}")
        stderr = entry["stderr"]
        if path is not None and entry["stderr_cid"]:
            stderr = read(entry["stderr_cid"]).decode("utf-8", errors="replace")
        if stderr:
            click.echo(stderr.rstrip("\n"))


def failed(entry: dict[str, Any]) -> bool:
    """A manifest's file entry that failed (one written before outcomes: it has an error)."""
    outcome = entry.get("outcome")
    return outcome not in ("ok", "no match") if outcome else entry.get("error") is not None


@click.command()
@click.argument("job_id", shell_complete=job_ids)
@click.option("--timeout", type=float, help="Give up after this many seconds (exit 2).")
@click.option("--json", "as_json", is_flag=True, help="Print the job's record as JSON.")
def wait(job_id: str, timeout: float | None, as_json: bool) -> None:
    """Wait for a job to end; print its output CID. Exit 0 ok, 1 some files failed, 2 otherwise."""
    api = ApiClient.from_env()
    if api is not None:
        from codsh.commands import remote

        ended = remote.wait(api, job_id, timeout)
    else:
        deadline = time.monotonic() + timeout if timeout is not None else None
        record = load(job_id)
        while record.state == RUNNING:
            if deadline is not None and time.monotonic() > deadline:
                raise InputError(
                    f"job {record.id} is still running after {timeout:g}s", "wait longer"
                )
            time.sleep(0.5)
            record = load(job_id)
        ended = record.as_dict()
    if as_json:
        click.echo(json.dumps(ended, ensure_ascii=False))
    elif ended["output"]:
        click.echo(ended["output"])
    if ended["error"]:
        click.echo(f"job {ended['id']}: {ended['state']}: {ended['error']}", err=True)
    sys.exit(FINAL.get(ended["state"], 2))


@click.command()
@click.argument("job_id", shell_complete=job_ids)
@click.option("--json", "as_json", is_flag=True, help="Print the job's record as JSON.")
def cancel(job_id: str, as_json: bool) -> None:
    """Stop a running job: its containers are removed and it is recorded as cancelled."""
    api = ApiClient.from_env()
    if api is not None:
        from codsh.commands import remote

        api.cancel(job_id)
        ended = remote.wait(api, job_id, 30)
        click.echo(f"job {ended['id']}: {ended['state']}", err=True)
        if as_json:
            click.echo(json.dumps(ended, ensure_ascii=False))
        return
    record = load(job_id)
    if record.state != RUNNING:
        raise InputError(f"job {record.id} is not running ({record.state})", "nothing to cancel")
    os.kill(record.pid, signal.SIGINT)  # the driver cleans up as on Ctrl-C
    deadline = time.monotonic() + 30
    while load(job_id).state == RUNNING and time.monotonic() < deadline:
        time.sleep(0.2)
    final = load(job_id)
    click.echo(f"job {final.id}: {final.state}", err=True)
    if as_json:
        click.echo(json.dumps(final.as_dict(), ensure_ascii=False))
