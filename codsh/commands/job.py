"""`codsh job submit` (alias `codsh run`): run a shell command over every file of a CID."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import click

from codsh import images
from codsh.commands import execution, records
from codsh.commands.cluster import parse_labels, tls_option
from codsh.commands.execution import Target, execute, start_detached
from codsh.commands.settings import Settings, pass_settings
from codsh.config import jobs_db
from codsh.errors import InputError
from codsh.executor.container import docker_client
from codsh.jobs import JobStore
from codsh.spec import CONCAT, DEFAULT_IMAGE, PER_FILE, JobSpec, Limits, check_command, check_input

SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str) -> int:
    """`512m`, `4g`, `100k` or a byte count."""
    value = text.strip().lower().removesuffix("b").removesuffix("i")
    unit = value[-1:] if value[-1:] in SIZE_UNITS else ""
    try:
        return int(float(value[: len(value) - len(unit)]) * SIZE_UNITS[unit])
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a size (e.g. 512m, 4g)") from None


def read_input_cid(cid: str | None) -> str:
    """`-c CID`, else a CID piped on stdin (so jobs chain like shell pipes)."""
    if cid:
        return check_input(cid)
    if sys.stdin.isatty():
        raise InputError("no input CID given", "pass one with -c CID, or pipe a CID on stdin")
    words = sys.stdin.read().split()
    if len(words) != 1:
        raise InputError(
            f"expected one CID on stdin, got {len(words)} words",
            "pipe exactly one CID (what `codsh add` or another job prints), or use -c CID",
        )
    return check_input(words[0])


@click.command()
@click.option(
    "-e",
    "--exec",
    "command",
    required=True,
    metavar="CMD",
    help="Shell command run per file (stdin: the file, stdout: its output); pipes run inside the container.",
)
@click.option(
    "-c",
    "--cid",
    metavar="CID",
    help="Input CID[/path]: a directory (every file, recursively) or one file. Default: a CID on stdin.",
)
@click.option(
    "--concat",
    is_flag=True,
    help="One output file: the per-file outputs concatenated in input path order.",
)
@click.option(
    "--image", default=DEFAULT_IMAGE, show_default=True, help="A local Docker image with /bin/sh."
)
@click.option(
    "--timeout", type=float, default=Limits.timeout, show_default=True, help="Seconds per file."
)
@click.option("--memory", default="512m", show_default=True, help="Memory limit per container.")
@click.option(
    "--cpus", type=float, default=Limits.cpus, show_default=True, help="CPUs per container."
)
@click.option(
    "--pids", type=int, default=Limits.pids, show_default=True, help="Process limit per container."
)
@click.option(
    "--output-limit", default="4g", show_default=True, help="Maximum stdout bytes per file."
)
@click.option("--slots", type=int, default=0, help="Containers at once [default: CPU count].")
@click.option(
    "--shard-size",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="At most this many files per shard (one container serves a shard).",
)
@click.option(
    "--find-timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to wait for the input CID to be found.",
)
@click.option(
    "--scheduler",
    envvar="CODSH_SCHEDULER",
    metavar="ADDR",
    help="Run on the cluster at ADDR (tls://host:port) [env CODSH_SCHEDULER]; without it, on this node.",
)
@tls_option()
@click.option(
    "--select",
    "select",
    multiple=True,
    metavar="KEY=VALUE",
    help="Run only on nodes with this label (repeatable).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON result (output and manifest CIDs) instead of the CID.",
)
@click.option(
    "--detach",
    is_flag=True,
    help="Run in the background; print the job ID (then `codsh job wait ID` prints the CID).",
)
@click.option("--job-id", hidden=True, help="Run as this recorded job (what --detach uses).")
@pass_settings
def submit(
    settings: Settings,
    command: str,
    cid: str | None,
    concat: bool,
    image: str,
    timeout: float,
    memory: str,
    cpus: float,
    pids: int,
    output_limit: str,
    slots: int,
    shard_size: int,
    find_timeout: float,
    scheduler: str | None,
    tls: Path | None,
    select: tuple[str, ...],
    as_json: bool,
    detach: bool,
    job_id: str | None,
) -> None:
    """Run CMD over every file of a CID; print the output CID.

    \b
    codsh job submit -e "sed -n '/38.7[2-4]....,-9.1[3-5]..../p'" -c bafy...
    codsh run -e "grep rain | wc -l" -c bafy... --concat

    Exit status: 0 all files ok, 1 some failed (the partial output is still printed), 2 bad input.
    """
    check_command(command)
    input_path = read_input_cid(cid)
    limits = Limits(
        timeout=timeout,
        memory=parse_size(memory),
        cpus=cpus,
        pids=pids,
        output=parse_size(output_limit),
    )
    engine = docker_client()
    spec = JobSpec(
        command=command,
        input=input_path,
        image=image,
        image_digest=images.resolve(engine, image),
        mode=CONCAT if concat else PER_FILE,
        limits=limits,
    )

    labels = parse_labels(select)
    if scheduler and tls is None:
        raise InputError(
            "--scheduler needs the cluster's certificates", "pass --tls DIR or set CODSH_TLS"
        )
    store = JobStore(jobs_db())
    record = store.adopt(job_id) if job_id else store.create(spec, runs_on=scheduler or "this node")
    if detach:
        store.close()
        click.echo(start_detached(record.id, input_path))
        return
    target = Target(scheduler, tls, labels, slots, find_timeout, shard_size)
    execute(settings, spec, store, record.id, target, as_json, engine)


@click.group()
def job() -> None:
    """Submit jobs and read their records."""


job.add_command(submit)
job.add_command(execution.resume)
job.add_command(records.list_command)
job.add_command(records.describe)
job.add_command(records.logs)
job.add_command(records.wait)
job.add_command(records.cancel)


run = click.Command(
    name="run",
    params=submit.params,
    callback=submit.callback,
    help=f"{inspect.cleandoc(submit.help or '')}\n\nAlias of `codsh job submit`.",
    short_help="Run CMD over every file of a CID (alias of `codsh job submit`).",
)
