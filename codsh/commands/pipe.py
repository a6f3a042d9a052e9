"""`codsh pipe`: a multi-stage pipeline in one command, each step a recorded job fed by the last."""

from __future__ import annotations

import json
import shlex
import sys
import time
from typing import Any

import click

from codsh import images
from codsh.commands.execution import report, result_record, run_recorded
from codsh.commands.run_options import RunOptions, run_options
from codsh.commands.settings import Settings, pass_settings
from codsh.config import jobs_db
from codsh.driver import JobResult
from codsh.errors import EXIT_FAILURES, EXIT_OK, CodshError, leaf
from codsh.executor.container import docker_client
from codsh.jobs import JobStore, new_id
from codsh.pipeline import Step, can_fuse, parse_stages, plan_steps
from codsh.progress import stderr
from codsh.spec import CONCAT, PER_FILE, JobSpec, canonical_json


@click.command(context_settings={"ignore_unknown_options": True})
@run_options
@click.option(
    "--no-fuse",
    is_flag=True,
    help="Run every stage as its own job (each stage's output CID is kept and shown).",
)
@click.argument("stages", nargs=-1, metavar="STAGE... [--concat STAGE...]")
@pass_settings
def pipe(settings: Settings, /, stages: tuple[str, ...], no_fuse: bool, **params: Any) -> None:
    """Run a pipeline of commands over every file of a CID; print the final output CID.

    \b
    codsh pipe -c bafy... 'grep Lisbon' 'cut -d, -f4' --concat 'sort -n | uniq -c'

    Each STAGE runs per file on the previous stage's output; `--concat` after a stage
    concatenates its outputs into one file (by reference), and the next stage runs on that file
    (a reduce). Adjacent per-file stages run fused as one shell pipe in one container pass
    (with pipefail, in the codsh/busybox image) unless --no-fuse.
    A stage that fails on some files hands its partial output on; `codsh job describe ID` shows
    each stage's input and output CIDs and what it lost.

    Exit status: 0 all files ok in every stage, 1 some failed, 2 bad input.
    """
    parsed = parse_stages(list(stages))
    options = RunOptions.from_params(params)
    steps = plan_steps(parsed, fuse=not no_fuse and can_fuse(options.image))
    engine = docker_client()
    digest = images.resolve(engine, options.image)
    target = options.target
    description = "pipe " + " ".join(shlex.quote(word) for word in stages)
    definition = canonical_json(
        {"stages": list(stages), "fuse": not no_fuse, "image": digest, "input": options.input}
    )
    store = JobStore(jobs_db())
    runs_on = target.scheduler or "this node"
    pipeline = store.create_pipeline(
        new_id(), description, options.input, definition, runs_on, options.name
    )
    started = time.monotonic()
    lineage: list[dict[str, Any]] = []
    lost: set[str] = set()  # paths of files that failed in some stage ('' after a --concat)
    current = options.input
    try:
        for number, step in enumerate(steps, start=1):
            spec = JobSpec(
                command=step.command,
                input=current,
                image=options.image,
                image_digest=digest,
                mode=CONCAT if step.concat else PER_FILE,
                limits=options.limits,
            )
            record = store.create(spec, runs_on, job_id=f"{pipeline.id}-{number}")
            if not options.as_json:
                stderr.print(f"[bold]stage {number}/{len(steps)}[/]: {describe(step)}")
            try:
                result = run_recorded(
                    settings, spec, store, record.id, target, options.as_json, engine
                )
            except BaseException as exc:
                why = str(leaf(exc, CodshError) or exc) or type(exc).__name__
                store.fail(pipeline.id, f"stage {number} ({describe(step)}): {why}")
                raise
            if not options.as_json:
                report(result, record.id)
            lineage.append({"stage": number, "job": record.id, "command": describe(step)})
            lineage[-1].update(stage_record(result))
            lost.update(r.path for r in result.failed)
            store.set_stages(pipeline.id, lineage)
            current = result.output_cid
        failed = min(len(lost), lineage[0]["files"])
        seconds = round(time.monotonic() - started, 3)
        store.finish_pipeline(pipeline.id, lineage, failed, seconds)
    finally:
        store.close()
    if options.as_json:
        record_json = {"job": pipeline.id, "output": current, "failed": failed, "stages": lineage}
        click.echo(json.dumps(record_json, ensure_ascii=False))
    else:
        click.echo(current)
        for stage in lineage:
            if stage["failed"]:
                stderr.print(
                    f"[yellow]stage {stage['stage']} lost {stage['failed']} files[/] "
                    f"(later stages ran on its partial output): `codsh job logs {stage['job']}`"
                )
    sys.exit(EXIT_FAILURES if failed else EXIT_OK)


def describe(step: Step) -> str:
    """The step's stages as the user wrote them, e.g. `grep Lisbon | cut -d, -f4 --concat`."""
    text = " | ".join(stage.command for stage in step.stages)
    return f"{text} --concat" if step.concat else text


def stage_record(result: JobResult) -> dict[str, Any]:
    """A stage's line of lineage: what it read, what it made, what it lost."""
    full = result_record(result)
    keys = ("output", "manifest", "files", "failed", "reused", "seconds")
    return {"input": result.spec.input, **{key: full[key] for key in keys}}
