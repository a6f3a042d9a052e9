"""Running a recorded job to its end (submit, --detach's background run, resume), and what it prints."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NoReturn

import click
import docker
import trio
from rich.filesize import decimal

from codsh.commands.cluster import tls_option
from codsh.commands.settings import Settings, pass_settings, run_async
from codsh.completion import job_ids
from codsh.config import jobs_db
from codsh.driver import JobResult, excerpt, run_job
from codsh.errors import EXIT_FAILURES, EXIT_OK, CodshError, InputError, leaf
from codsh.executor.container import JOB_LABEL, docker_client, remove_leftovers
from codsh.executor.shard import FileResult
from codsh.jobs import CANCELLED, RUNNING, SUCCEEDED, JobStore, ResultSaver
from codsh.processes import spawn
from codsh.progress import JobProgress, stderr
from codsh.spec import JobSpec


@dataclass(frozen=True)
class Target:
    """Where and how a job runs: on the cluster at `scheduler`, or here with `slots` containers."""

    scheduler: str | None
    tls: Path | None
    select: dict[str, str]
    slots: int = 0
    find_timeout: float = 30.0
    shard_size: int = 1000
    memo: bool = True  # reuse remembered results (results are remembered either way)


def execute(
    settings: Settings,
    spec: JobSpec,
    store: JobStore,
    job_id: str,
    target: Target,
    as_json: bool,
    engine: docker.DockerClient,
    done: Mapping[str, FileResult] | None = None,
) -> NoReturn:
    """Run recorded job `job_id` to its end; print its output CID (or JSON) and exit with its code."""
    try:
        result = run_recorded(settings, spec, store, job_id, target, as_json, engine, done)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"job": job_id, **result_record(result)}, ensure_ascii=False))
    else:
        click.echo(result.output_cid)
        report(result, job_id)
    sys.exit(EXIT_OK if result.ok else EXIT_FAILURES)


def run_recorded(
    settings: Settings,
    spec: JobSpec,
    store: JobStore,
    job_id: str,
    target: Target,
    quiet: bool,
    engine: docker.DockerClient,
    done: Mapping[str, FileResult] | None = None,
) -> JobResult:
    """Run recorded job `job_id`, recording per-file results (and memo entries) as they come and
    its end, whatever that is; without `quiet`, a progress bar on a terminal."""
    saver = ResultSaver(store, job_id, memo_of=spec)

    def on_file(result: FileResult) -> None:
        progress.file_done(result)
        saver.add(result)

    async def recall(cids: list[str]) -> Mapping[str, FileResult]:
        return await trio.to_thread.run_sync(store.recall, spec, cids)

    async def run() -> JobResult:
        async with settings.kubo() as ipfs:
            await ipfs.version()  # fail fast, with the how-to-start hint, when kubo is down
            if target.scheduler and target.tls:
                from codsh.cluster.driver import run_cluster_job

                return await run_cluster_job(
                    spec,
                    ipfs,
                    target.scheduler,
                    target.tls,
                    select=target.select,
                    find_timeout=target.find_timeout,
                    shard_size=target.shard_size,
                    on_listed=progress.listed,
                    on_file=on_file,
                    done=done,
                    recall=recall if target.memo else None,
                )
            return await run_job(
                spec,
                ipfs,
                engine,
                slots=target.slots,
                find_timeout=target.find_timeout,
                shard_size=target.shard_size,
                on_listed=progress.listed,
                on_file=on_file,
                done=done,
                recall=recall if target.memo else None,
                labels={JOB_LABEL: job_id},
            )

    async def go() -> JobResult:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(saver.run)
                result = await run()
                nursery.cancel_scope.cancel()
            return result
        finally:
            await saver.flush()

    progress = JobProgress(enabled=not quiet and stderr.is_terminal)
    try:
        with progress:
            result = run_async(go)
        store.finish(job_id, result)
    except BaseException as exc:
        if leaf(exc, KeyboardInterrupt):
            store.fail(job_id, "cancelled", CANCELLED)
        else:
            store.fail(job_id, str(leaf(exc, CodshError) or exc) or type(exc).__name__)
        raise
    return result


@click.command()
@click.argument("job_id", shell_complete=job_ids)
@tls_option()
@click.option(
    "--slots",
    type=int,
    default=0,
    help="Containers at once, for a job run here [default: CPU count].",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON result instead of the CID.")
@pass_settings
def resume(settings: Settings, job_id: str, tls: Path | None, slots: int, as_json: bool) -> None:
    """Finish a job that was interrupted, cancelled or failed: files already done are not run again."""
    store = JobStore(jobs_db())
    record = store.get(job_id)
    if record.state == RUNNING:
        store.close()
        raise InputError(
            f"job {record.id} is still running (pid {record.pid})",
            "wait for it, or cancel it first",
        )
    if record.state == SUCCEEDED:
        store.close()
        raise InputError(f"job {record.id} already succeeded: {record.output}", "nothing to resume")
    if record.mode == "pipeline":
        store.close()
        raise InputError(
            f"job {record.id} is a pipeline: its stages are not resumed one by one",
            "run the same `codsh pipe` again: the memo skips every file already done",
        )
    spec = JobSpec.from_json(record.spec)
    engine = docker_client()
    remove_leftovers(engine, JOB_LABEL, record.id)  # containers its killed driver left behind
    done = store.results(record.id)
    record = store.restart(record.id)
    scheduler = None if record.runs_on == "this node" else record.runs_on
    if scheduler and tls is None:
        raise InputError(
            "the job ran on a cluster: resuming it needs its certificates",
            "pass --tls DIR or set CODSH_TLS",
        )
    stderr.print(f"resuming job {record.id}: {len(done)} files already done are not run again")
    execute(
        settings, spec, store, record.id, Target(scheduler, tls, {}, slots), as_json, engine, done
    )


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
        "reused": result.reused,
        "seconds": result.seconds,
        "placement": asdict(result.placement) if result.placement else None,
        "spec": asdict(result.spec),
        "failures": [
            {"path": r.path, "error": r.error, "stderr": excerpt(r.stderr, 800)}
            for r in result.failed[:20]
        ],
    }


def report(result: JobResult, job_id: str) -> None:
    """The one-line summary on stderr, then the first failures and where to read the rest."""
    n_in = sum(r.input_size for r in result.files)
    n_out = sum(r.output_size for r in result.files)
    style = "green" if result.ok else "yellow"
    reused = f", {result.reused} reused" if result.reused else ""
    stderr.print(
        f"[{style}]{len(result.files)} files, {len(result.files) - len(result.failed)} ok, "
        f"{len(result.failed)} failed{reused}[/] | {decimal(n_in)} in, {decimal(n_out)} out | "
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
        lines = failed.stderr.strip().splitlines()
        if lines and lines[0].startswith("Traceback"):  # a Python function: its exception says it
            lines = lines[-1:]
        detail = f" — {lines[0]}" if lines else ""
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
