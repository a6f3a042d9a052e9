"""`codsh job submit` (alias `codsh run`): run a shell command over every file of a CID."""

from __future__ import annotations

import inspect
from typing import Any

import click

from codsh import images
from codsh.commands import execution, records
from codsh.commands.execution import execute, start_detached
from codsh.commands.run_options import RunOptions, run_options
from codsh.commands.settings import Settings, pass_settings
from codsh.config import jobs_db
from codsh.executor.container import docker_client
from codsh.jobs import JobStore
from codsh.spec import CONCAT, PER_FILE, JobSpec, check_command


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
    "--concat",
    is_flag=True,
    help="One output file: the per-file outputs concatenated in input path order.",
)
@run_options
@click.option(
    "--detach",
    is_flag=True,
    help="Run in the background; print the job ID (then `codsh job wait ID` prints the CID).",
)
@click.option("--job-id", hidden=True, help="Run as this recorded job (what --detach uses).")
@pass_settings
def submit(
    settings: Settings,
    /,
    command: str,
    concat: bool,
    detach: bool,
    job_id: str | None,
    **params: Any,
) -> None:
    """Run CMD over every file of a CID; print the output CID.

    \b
    codsh job submit -e "sed -n '/38.7[2-4]....,-9.1[3-5]..../p'" -c bafy...
    codsh run -e "grep rain | wc -l" -c bafy... --concat
    codsh add data/ | codsh run -e "grep Lisbon" | codsh run -e "wc -l" --concat | codsh cat

    Files whose result is remembered from an earlier run (same command, image, options and input
    bytes) are not run again: a rerun on a grown dataset costs only the new files (see --no-memo).

    Exit status: 0 all files ok, 1 some failed (the partial output is still printed), 2 bad input.
    """
    check_command(command)
    options = RunOptions.from_params(params)
    engine = docker_client()
    spec = JobSpec(
        command=command,
        input=options.input,
        image=options.image,
        image_digest=images.resolve(engine, options.image),
        mode=CONCAT if concat else PER_FILE,
        limits=options.limits,
    )
    store = JobStore(jobs_db())
    record = (
        store.adopt(job_id)
        if job_id
        else store.create(spec, options.target.scheduler or "this node", options.name)
    )
    if detach:
        store.close()
        click.echo(start_detached(record.id, options.input))
        return
    execute(settings, spec, store, record.id, options.target, options.as_json, engine)


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
