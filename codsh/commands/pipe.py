"""`codsh pipe`: a multi-stage pipeline in one command, each step a recorded job fed by the last."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from typing import Any

import click

from codsh.client.api import ApiClient
from codsh.commands.run_options import RunOptions, run_options
from codsh.commands.settings import Settings, pass_settings, run_async
from codsh.config import jobs_db
from codsh.core.pipeline import parse_stages
from codsh.core.spec import JobSpec
from codsh.errors import EXIT_FAILURES, EXIT_OK
from codsh.jobs.store import JobStore


@click.command(context_settings={"ignore_unknown_options": True})
@run_options
@click.option(
    "--no-fuse",
    is_flag=True,
    help="Run every stage as its own job (each stage's output CID is kept and shown).",
)
@click.argument("stages", nargs=-1, metavar="STAGE... [--concat STAGE...]")
@pass_settings
def pipe(
    settings: Settings, /, stages: tuple[str, ...], no_fuse: bool, **params: Any
) -> None:  # long for its help text (the docstring) and its two paths
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
    from codsh.commands.execution import StagePrinter
    from codsh.commands.images import pinned_image, with_image_cid
    from codsh.executor.container import docker_client
    from codsh.jobs.pipeline import PipelineResult, new_pipeline, run_pipeline

    parse_stages(list(stages))  # bad stages are refused before anything else happens
    options = RunOptions.from_params(params)
    api = ApiClient.from_env()
    if api is not None:  # the orchestrator runs the pipeline
        from codsh.commands import remote

        first = JobSpec("", options.input, options.image, limits=options.limits)
        first = replace(first, **options.spec_fields())
        remote.pipe(api, list(stages), first, not no_fuse, options)
        return
    engine = docker_client()
    digest, image_cid = pinned_image(settings, engine, options.image)
    first = JobSpec(
        command="",
        input=options.input,
        image=options.image,
        image_digest=digest,
        image_cid=image_cid,
        limits=options.limits,
        **options.spec_fields(),
    )
    where = options.where
    where.admits(first)
    if where.scheduler:  # nodes with engines of their own load the image by content
        first = with_image_cid(settings, engine, first)
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
        pipeline, steps = new_pipeline(
            store, list(stages), first, not no_fuse, where.runs_on, options.name
        )
        with events.progress:
            result = run_async(go)
    if options.as_json:
        record_json = {"job": pipeline.id, "output": result.output, "failed": result.failed}
        click.echo(json.dumps({**record_json, "stages": result.lineage}, ensure_ascii=False))
    else:
        click.echo(result.output)
        events.losses(result.lineage)
    from codsh.commands.name import publish_after

    publish_after(settings, pipeline.id)  # a named pipe's name moves to a complete output
    sys.exit(EXIT_FAILURES if result.failed else EXIT_OK)
