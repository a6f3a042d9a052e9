"""`codsh job submit` (alias `codsh run`): run a shell command over every file of a CID."""

from __future__ import annotations

import inspect
import json
import sys
from dataclasses import asdict
from pathlib import Path

import click
from rich.filesize import decimal

from codsh import images
from codsh.commands import records
from codsh.commands.cluster import parse_labels
from codsh.commands.settings import Settings, pass_settings, run_async
from codsh.config import jobs_db
from codsh.driver import JobResult, run_job
from codsh.errors import EXIT_FAILURES, EXIT_OK, CodshError, InputError, leaf
from codsh.executor.container import docker_client
from codsh.jobs import CANCELLED, JobStore
from codsh.processes import spawn
from codsh.progress import JobProgress, stderr
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
@click.option(
    "--tls",
    "tls",
    envvar="CODSH_TLS",
    type=click.Path(path_type=Path),
    help="The cluster's certificates folder [env CODSH_TLS].",
)
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

    async def go() -> JobResult:
        async with settings.kubo() as ipfs:
            await ipfs.version()  # fail fast, with the how-to-start hint, when kubo is down
            with JobProgress(enabled=not as_json and stderr.is_terminal) as progress:
                if scheduler and tls:
                    from codsh.cluster.driver import run_cluster_job

                    return await run_cluster_job(
                        spec,
                        ipfs,
                        scheduler,
                        tls,
                        select=labels,
                        find_timeout=find_timeout,
                        on_listed=progress.listed,
                        on_file=progress.file_done,
                    )
                return await run_job(
                    spec,
                    ipfs,
                    engine,
                    slots=slots,
                    find_timeout=find_timeout,
                    on_listed=progress.listed,
                    on_file=progress.file_done,
                )

    store = JobStore(jobs_db())
    record = store.adopt(job_id) if job_id else store.create(spec, runs_on=scheduler or "this node")
    if detach:
        store.close()
        click.echo(start_detached(record.id, input_path))
        return
    try:
        result = run_async(go)
        store.finish(record.id, result)
    except BaseException as exc:
        if leaf(exc, KeyboardInterrupt):
            store.fail(record.id, "cancelled", CANCELLED)
        else:
            store.fail(record.id, str(leaf(exc, CodshError) or exc) or type(exc).__name__)
        raise
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"job": record.id, **result_record(result)}, ensure_ascii=False))
    else:
        click.echo(result.output_cid)
        report(result, record.id)
    sys.exit(EXIT_OK if result.ok else EXIT_FAILURES)


def start_detached(job_id: str, input_path: str) -> str:
    """Run this same command in the background as recorded job `job_id`; its output goes to a log."""
    argv = [arg for arg in sys.argv[1:] if arg != "--detach"]
    command = [sys.executable, "-m", "codsh", *argv, "--job-id", job_id, "-c", input_path]
    log = jobs_db().parent / "jobs" / f"{job_id}.log"
    proc = spawn(command, log)
    store = JobStore(jobs_db())
    store.set_pid(job_id, proc.pid)
    store.close()
    return job_id


def result_record(result: JobResult) -> dict[str, object]:
    return {
        "output": result.output_cid,
        "manifest": result.manifest_cid,
        "files": len(result.files),
        "failed": len(result.failed),
        "seconds": result.seconds,
        "placement": asdict(result.placement) if result.placement else None,
        "spec": asdict(result.spec),
        "failures": [
            {"path": r.path, "error": r.error, "stderr": r.stderr[:500]} for r in result.failed[:20]
        ],
    }


def report(result: JobResult, job_id: str) -> None:
    """The one-line summary on stderr, then the first failures and where to read the rest."""
    n_in = sum(r.input_size for r in result.files)
    n_out = sum(r.output_size for r in result.files)
    style = "green" if result.ok else "yellow"
    stderr.print(
        f"[{style}]{len(result.files)} files, {len(result.files) - len(result.failed)} ok, "
        f"{len(result.failed)} failed[/] | {decimal(n_in)} in, {decimal(n_out)} out | "
        f"{result.seconds:.2f}s | job {job_id} | manifest {result.manifest_cid}"
    )
    if result.placement:
        report = result.placement
        where = ", ".join(f"{n}: {c}" for n, c in sorted(report.shards_per_node.items()))
        stderr.print(
            f"  locality {report.locality:.2f}, {decimal(report.bytes_moved)} to move between "
            f"nodes; shards per node: {where}"
        )
    for failed in result.failed[:5]:
        first_line = failed.stderr.strip().splitlines()[:1]
        detail = f" — {first_line[0]}" if first_line else ""
        stderr.print(
            f"  [red]failed[/] {failed.path or '(input file)'!r}: {failed.error}{detail}",
            markup=True,
        )
    if len(result.failed) > 5:
        stderr.print(f"  ... and {len(result.failed) - 5} more: `codsh cat {result.manifest_cid}`")
    grep_like = result.spec.command.lstrip().startswith(("grep", "egrep", "fgrep"))
    if grep_like and result.failed and all(r.exit_code == 1 for r in result.failed):
        stderr.print(
            "  note: grep exits 1 when no line matched; use `grep ... || [ $? = 1 ]` to accept that"
        )


@click.group()
def job() -> None:
    """Submit jobs and read their records."""


job.add_command(submit)
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
