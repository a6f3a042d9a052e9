"""The CLI as a client of the orchestrator (when `CODSH_API` is set): the same commands, output,
exit codes and `--json`, with the job run by the orchestrator and its progress fed by the job's
event stream. Nothing here imports Dask, Docker or trio."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from codsh.client.api import ApiClient
from codsh.commands.run_options import RunOptions
from codsh.core.spec import (
    DEFAULT_IMAGE,
    PYTHON,
    PYTHON_IMAGE,
    SHELL,
    JobSpec,
    Program,
    check_command,
    check_input,
)
from codsh.core.unixfs import safe_join
from codsh.errors import EXIT_USAGE, InputError
from codsh.jobs.states import FINAL, RUNNING


def api_spec(spec: JobSpec) -> dict[str, Any]:
    """The spec as the API takes it: the image by name (the orchestrator pins its ID)."""
    fields = asdict(spec)
    fields["image_digest"] = ""
    return fields


def choose(
    api: ApiClient,
    *,
    command: str | None,
    script: Path | None,
    function: str,
    requirements: Path | None,
    program: str | None,
    image: str,
) -> Program:
    """-e, -f or -x, checked as here (commands/programs.py) but read and added through the
    orchestrator: a script is packed here into a bundle added there, a CID is inspected there."""
    from codsh.client.programs import inspect_program
    from codsh.client.remote import Remote
    from codsh.commands.run_options import one_of

    one_of(command, script, program, requirements)
    if command is not None:
        check_command(command)
        return Program(SHELL, command, image=image)
    backend = Remote(api.url, api.token, api.ca)
    python_image = PYTHON_IMAGE if image == DEFAULT_IMAGE else image
    if program is not None:
        return inspect_program(check_input(program), python_image, backend, None)
    assert script is not None
    import tempfile

    from codsh.functions.bundle import check_script, make_bundle

    check_script(script, function)
    target = backend.pip_target(python_image, requirements is not None)
    with tempfile.TemporaryDirectory(prefix="codsh-bundle-") as tmp:
        folder = make_bundle(Path(tmp) / "bundle", script, function, requirements, target)
        cid = backend.add(folder)
    return Program(PYTHON, f"python {script.name}:{function}", cid, python_image)


def submit(api: ApiClient, spec: JobSpec, name: str | None, as_json: bool, detach: bool) -> None:
    """Submit `spec`, follow it to its end (a progress bar on a terminal), print as `run` does."""
    job = api.submit(api_spec(spec), name)
    if detach:
        click.echo(job["id"])
        return
    try:
        follow(api, job["id"], quiet=as_json)
    except KeyboardInterrupt:
        api.cancel(job["id"])
        click.echo(f"interrupted: job {job['id']} cancelled on {api.url}", err=True)
        sys.exit(130)
    finish(api.job(job["id"]), api, as_json)


def pipe(
    api: ApiClient, stages: list[str], first: JobSpec, fuse: bool, options: RunOptions
) -> None:
    """`codsh pipe` through the orchestrator: its output CID, lineage and exit code as here."""
    fields = {k: v for k, v in api_spec(first).items() if k not in ("command", "kind", "program")}
    body = {**fields, "stages": stages, "fuse": fuse, "name": options.name}
    job = api.call("POST", "/v1/pipes", {k: v for k, v in body.items() if v is not None})
    try:
        follow(api, job["id"], quiet=options.as_json)
    except KeyboardInterrupt:
        api.cancel(job["id"])
        click.echo(f"interrupted: pipeline {job['id']} cancelled on {api.url}", err=True)
        sys.exit(130)
    record = api.job(job["id"])
    lineage = record.get("stages") or []
    if options.as_json:
        result = {"job": record["id"], "output": record["output"], "failed": record["failed"]}
        click.echo(json.dumps({**result, "stages": lineage}, ensure_ascii=False))
    else:
        if record.get("output"):
            click.echo(record["output"])
        summary(record, api.url)
    sys.exit(FINAL.get(record["state"], EXIT_USAGE))


def follow(api: ApiClient, job_id: str, quiet: bool = False) -> None:
    """Read the job's events to its end, moving a progress bar (on a terminal, unless quiet)."""
    from codsh.progress import JobProgress
    from codsh.terminal import stderr

    with JobProgress(enabled=not quiet and stderr.is_terminal) as progress:
        for event in api.events(job_id):
            kind = event.get("event")
            if kind in ("listed", "progress") and event.get("files") is not None:
                done = event.get("done", 0), event.get("failed", 0), event.get("done_bytes", 0)
                progress.counted(event["files"], event.get("bytes", 0), *done)
            elif kind == "file":
                progress.counted_file(event.get("outcome") == "ok", event.get("size", 0))


def finish(record: dict[str, Any], api: ApiClient, as_json: bool) -> None:
    """Print the job's output CID (or JSON) and its summary; exit with its code."""
    if as_json:
        click.echo(json.dumps({"job": record["id"], **record}, ensure_ascii=False))
    else:
        if record.get("output"):
            click.echo(record["output"])
        summary(record, api.url)
    sys.exit(FINAL.get(record["state"], EXIT_USAGE))


def summary(record: dict[str, Any], where: str) -> None:
    from codsh.terminal import stderr

    files, failed, reused = record.get("files"), record.get("failed") or 0, record.get("reused")
    if files is None:
        stderr.print(f"[red]job {record['id']} {record['state']}[/]: {record.get('error')}")
        return
    style = "green" if not failed else "yellow"
    extra = f", {reused} reused" if reused else ""
    stderr.print(
        f"[{style}]{files} files, {files - failed} ok, {failed} failed{extra}[/] | "
        f"{record.get('seconds') or 0:.2f}s | job {record['id']} on {where} | "
        f"manifest {record.get('manifest')}"
    )
    if record["state"] == "partial" and record.get("error"):  # stopped at its --max-price
        stderr.print(f"  [yellow]{record['error']}[/]: `codsh job resume {record['id']}` runs them")
    placement = record.get("placement")
    if placement:
        from codsh.core.plan import locality_lines

        for line in locality_lines(placement, lambda n: f"{n} bytes"):
            stderr.print(f"  {line}", markup=False)
    for failure in record.get("failures", [])[:5]:
        stderr.print(
            f"  [red]failed[/] {failure['path'] or '(input file)'!r}: {failure['error']}",
            markup=True,
        )
    if failed:
        stderr.print(f"  `codsh job logs {record['id']} --failed` shows each one's stderr")


def wait(api: ApiClient, job_id: str, timeout: float | None) -> dict[str, Any]:
    """The job's record once it has ended (its events end when it does)."""
    import time

    record = api.job(job_id)
    deadline = None if timeout is None else time.monotonic() + timeout
    while record["state"] == RUNNING:
        if deadline is not None and time.monotonic() > deadline:
            raise InputError(
                f"job {record['id']} is still running after {timeout:g}s", "wait longer"
            )
        for _ in api.events(job_id):
            if deadline is not None and time.monotonic() > deadline:
                break
        record = api.job(job_id)
    return record


def add(api: ApiClient, paths: tuple[Path, ...]) -> None:
    for entry in api.add(list(paths)):
        click.echo(entry["cid"])


def get(api: ApiClient, path: str, target: Path) -> int:
    """Download `path` (a file or a tree) under `target`; the number of files written."""
    listing = api.ls(path, recursive=True)
    entries: list[dict[str, Any]] = [{"path": "", "dir": False}]
    if listing["dir"]:
        entries = listing["entries"]
        target.mkdir(parents=True, exist_ok=True)
    files = 0
    for entry in entries:
        where = safe_join(target, str(entry["path"]))
        if entry["dir"]:
            where.mkdir(parents=True, exist_ok=True)
            continue
        where.parent.mkdir(parents=True, exist_ok=True)
        with where.open("wb") as out:
            for chunk in api.cat(f"{path}/{entry['path']}" if entry["path"] else path):
                out.write(chunk)
        files += 1
    return files
