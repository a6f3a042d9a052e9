"""Running a recorded job from the CLI (submit, --detach's background run, resume), and what it prints."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, NoReturn

import click
import docker

from codsh.client.api import ApiClient
from codsh.commands.cluster import tls_option
from codsh.commands.settings import Settings, pass_settings, run_async
from codsh.completion import job_ids
from codsh.config import jobs_db
from codsh.core.folders import KeptFolder
from codsh.core.manifest import excerpt
from codsh.core.model import FileResult, Outcome
from codsh.core.pipeline import Step
from codsh.core.plan import locality_lines
from codsh.core.sampling import chance_line
from codsh.core.spec import JobSpec
from codsh.errors import EXIT_FAILURES, EXIT_OK, InputError
from codsh.executor.container import docker_client, remove_job
from codsh.inputs import InputTree
from codsh.jobs.events import Events
from codsh.jobs.finish import JobResult
from codsh.jobs.pipeline import PipelineEvents, describe
from codsh.jobs.recorded import run_recorded
from codsh.jobs.resumable import check_resumable, kept_results
from codsh.jobs.store import JobStore
from codsh.jobs.where import Where
from codsh.processes import spawn
from codsh.progress import JobProgress
from codsh.terminal import decimal, stderr


def execute(
    settings: Settings,
    spec: JobSpec,
    store: JobStore,
    job_id: str,
    where: Where,
    as_json: bool,
    engine: docker.DockerClient | None = None,
    done: Mapping[str, FileResult] | None = None,
) -> NoReturn:
    """Run recorded job `job_id` to its end; print its output CID (or JSON) and exit with its code."""
    with store:
        progress = JobProgress(enabled=not as_json and stderr.is_terminal)
        with progress:
            result = run_in_cli(settings, spec, store, job_id, where, progress, engine, done)
    if as_json:
        click.echo(json.dumps({"job": job_id, **result_record(result)}, ensure_ascii=False))
    else:
        click.echo(result.output_cid)
        report(result, job_id)
    from codsh.commands.name import publish_after

    publish_after(settings, job_id)  # a named job's name moves to a complete output
    sys.exit(EXIT_OK if result.ok else EXIT_FAILURES)


def run_in_cli(
    settings: Settings,
    spec: JobSpec,
    store: JobStore,
    job_id: str,
    where: Where,
    events: Events,
    engine: docker.DockerClient | None = None,
    done: Mapping[str, FileResult] | None = None,
) -> JobResult:
    """Run recorded job `job_id` under trio, its events to `events` (e.g. a progress bar)."""
    suspects = store.outvoted_nodes() if spec.verify else frozenset()
    execution = where.execution(job_id, engine, suspects)

    async def go() -> JobResult:
        async with settings.kubo() as ipfs:
            return await run_recorded(store, job_id, spec, ipfs, execution, events, done)

    return run_async(go)


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
    """Finish a job that was interrupted, cancelled or failed: files already done are not run
    again, and it runs where and as it ran (node selector, shard size, memo). With CODSH_API set,
    the orchestrator resumes it, and this follows it as `run` does."""
    api = ApiClient.from_env()
    if api is not None:
        resume_remote(api, job_id, slots, as_json)
        return
    with JobStore(jobs_db()) as store:
        record = store.get(job_id)
        check_resumable(record, f"pid {record.pid}")
        where = Where(None if record.runs_on == "this node" else record.runs_on, tls)
        where.checked("the job ran on a cluster: resuming it needs its certificates")
        spec = JobSpec.from_json(record.spec)
        if slots:
            spec = replace(spec, target=replace(spec.target, slots=slots))
        engine = docker_client()
        remove_job(engine, record.id)  # containers its killed driver left behind
        done = kept_results(store, record.id)  # failures below the command run again
    store = JobStore(jobs_db())
    record = store.restart(record.id)
    stderr.print(f"resuming job {record.id}: {len(done)} files already done are not run again")
    execute(settings, spec, store, record.id, where, as_json, engine, done)


def resume_remote(api: ApiClient, job_id: str, slots: int, as_json: bool) -> None:
    """`codsh job resume` through the orchestrator: it resumes the job as recorded; follow it to
    its end and print and exit as `run` does."""
    from codsh.commands import remote

    if slots:
        raise InputError(
            "--slots is for a job resumed here",
            "through the orchestrator (CODSH_API) a job resumes as it was submitted",
        )
    job = api.resume(job_id)
    stderr.print(
        f"resuming job {job['id']} on {api.url}: "
        f"{job.get('files_done', 0)} files already done are not run again"
    )
    try:
        remote.follow(api, job["id"], quiet=as_json)
    except KeyboardInterrupt:
        api.cancel(job["id"])
        click.echo(f"interrupted: job {job['id']} cancelled on {api.url}", err=True)
        sys.exit(130)
    remote.finish(api.job(job["id"]), api, as_json)  # exits with the job's code


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
    """What `--json` prints of a job's result."""
    return {
        **result.counts(),
        "placement": asdict(result.placement) if result.placement else None,
        "spec": asdict(result.spec),
        "failures": [
            {"path": r.path, "error": r.error, "stderr": excerpt(r.stderr, 800)}
            for r in result.failed[:20]
        ],
        "published": [p.record() for p in result.published],
    }


def report(result: JobResult, job_id: str) -> None:
    """The one-line summary on stderr, then the first failures and where to read the rest."""
    kept = result.folders  # linked whole: every file of them succeeded
    n_in = sum(r.input_size for r in result.files) + sum(k.bytes_in for k in kept)
    n_out = sum(r.output_size for r in result.files) + sum(k.size for k in kept)
    style = "green" if result.ok else "yellow"
    reused = f", {result.reused} reused" if result.reused else ""
    no_match = sum(1 for r in result.files if r.outcome is Outcome.NO_MATCH)
    no_match += sum(k.no_match for k in kept)
    matched = f" ({no_match} no match)" if no_match else ""
    disputed = sum(1 for r in result.files if r.outcome is Outcome.DISPUTED)
    undecided = f" ({disputed} disputed)" if disputed else ""
    files = result.file_count
    stderr.print(
        f"[{style}]{files} files, {files - len(result.failed)} ok{matched}, "
        f"{len(result.failed)} failed{undecided}{reused}[/] | {decimal(n_in)} in, {decimal(n_out)} out | "
        f"{result.seconds:.2f}s | job {job_id} | manifest {result.manifest_cid}"
    )
    if result.stopped:  # --max-price: what finished is kept, the rest waits for a resume
        stderr.print(f"  [yellow]{result.stopped}[/]: `codsh job resume {job_id}` runs them")
    for published in result.published:
        stderr.print(f"  {published.summary()}", markup=False)
    if result.placement:
        for line in locality_lines(asdict(result.placement), decimal):
            stderr.print(f"  {line}", markup=False)
    voted = [r.vote for r in result.files if r.vote and not r.reused]
    if voted and len(voted) < len(result.files):  # sampled verification (--verify)
        line = chance_line(len(result.files), len(voted), int(voted[0]["replicas"]))
        stderr.print(f"  {line}", markup=False)
    for failed in result.failed[:5]:
        lines = failed.stderr.strip().splitlines()
        if lines and lines[0].startswith("Traceback"):  # a Python function: its exception says it
            lines = lines[-1:]
        detail = f" — {lines[0]}" if lines else ""
        stderr.print(
            f"  [red]failed[/] {failed.path or '(input file)'!r}: {failed.error}{detail}",
            markup=True,
        )
    if result.failed:
        more = f"... and {len(result.failed) - 5} more: " if len(result.failed) > 5 else ""
        stderr.print(f"  {more}`codsh job logs {job_id} --failed` shows each one's stderr")


class StagePrinter(PipelineEvents):
    """A progress bar per stage, the stage's name before it and its summary after it."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.progress = JobProgress(enabled=enabled and stderr.is_terminal)

    def listed(self, tree: InputTree) -> None:
        self.progress.listed(tree)

    def file(self, result: FileResult) -> None:
        self.progress.file(result)

    def folder(self, kept: KeptFolder) -> None:
        self.progress.folder(kept)

    def stage(self, number: int, total: int, step: Step) -> None:
        if self.enabled:
            stderr.print(f"[bold]stage {number}/{total}[/]: {describe(step)}")

    def staged(self, result: JobResult, job_id: str) -> None:
        if self.enabled:
            report(result, job_id)

    def losses(self, lineage: list[dict[str, Any]]) -> None:
        """After the pipe: which stages lost files (later ones ran on their partial output)."""
        for stage in lineage:
            if stage["failed"]:
                stderr.print(
                    f"[yellow]stage {stage['stage']} lost {stage['failed']} files[/] "
                    f"(later stages ran on its partial output): `codsh job logs {stage['job']}`"
                )
