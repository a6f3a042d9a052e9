"""`codsh pipe`: a multi-stage pipeline in one command, each step a recorded job fed by the last."""

from __future__ import annotations

import json
import shlex
import sys
from typing import Any

import click

from codsh.commands.run_options import RunOptions, run_options
from codsh.commands.settings import Settings, pass_settings, run_async
from codsh.config import jobs_db
from codsh.core.pipeline import can_fuse, group_steps, parse_stages
from codsh.core.spec import JobSpec, canonical_json
from codsh.errors import EXIT_FAILURES, EXIT_OK
from codsh.jobs.store import JobStore, new_id


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
    from codsh import images
    from codsh.commands.execution import StagePrinter
    from codsh.executor.container import docker_client
    from codsh.jobs.pipeline import PipelineResult, run_pipeline

    parsed = parse_stages(list(stages))
    options = RunOptions.from_params(params)
    steps = group_steps(parsed, fuse=not no_fuse and can_fuse(options.image))
    engine = docker_client()
    digest = images.resolve(engine, options.image)
    description = "pipe " + " ".join(shlex.quote(word) for word in stages)
    definition = canonical_json(
        {"stages": list(stages), "fuse": not no_fuse, "image": digest, "input": options.input}
    )
    first = JobSpec(
        command="",
        input=options.input,
        image=options.image,
        image_digest=digest,
        limits=options.limits,
        target=options.target,
    )
    where = options.where
    events = StagePrinter(enabled=not options.as_json)

    async def go() -> PipelineResult:
        async with settings.kubo() as ipfs:
            return await run_pipeline(
                store,
                pipeline.id,
                steps,
                first,
                ipfs,
                lambda job_id: where.execution(job_id, engine),
                events,
                where.runs_on,
            )

    with JobStore(jobs_db()) as store:
        pipeline = store.create_pipeline(
            new_id(), description, options.input, definition, where.runs_on, options.name
        )
        with events.progress:
            result = run_async(go)
    if options.as_json:
        record_json = {"job": pipeline.id, "output": result.output, "failed": result.failed}
        click.echo(json.dumps({**record_json, "stages": result.lineage}, ensure_ascii=False))
    else:
        click.echo(result.output)
        events.losses(result.lineage)
    sys.exit(EXIT_FAILURES if result.failed else EXIT_OK)
