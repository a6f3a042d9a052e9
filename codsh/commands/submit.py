"""`codsh job submit` (alias `codsh run`): run a command, function or module over every file of a CID."""

from __future__ import annotations

import inspect
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from codsh.client.api import ApiClient
from codsh.commands.run_options import RunOptions, run_options
from codsh.commands.settings import Settings, pass_settings
from codsh.config import jobs_db
from codsh.core.spec import CONCAT, PER_FILE, JobSpec, Limits

if TYPE_CHECKING:
    import docker


def max_price_option(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """--max-price: a number, 0 or more (a negative or non-numeric one is a usage error)."""
    from codsh.core.bill import check_max_price
    from codsh.errors import InputError

    try:
        return check_max_price(value)
    except InputError as exc:
        raise click.BadParameter(exc.message) from None


@click.command()
@click.option(
    "-e",
    "--exec",
    "command",
    metavar="CMD",
    help="Shell command run per file (stdin: the file, stdout: its output); pipes run inside the container.",
)
@click.option(
    "-f",
    "--function",
    "script",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A Python script whose function (--fn) is called per file with a binary file handle.",
)
@click.option(
    "--fn",
    "function",
    default="main",
    show_default=True,
    metavar="NAME",
    help="The function of -f called per file.",
)
@click.option(
    "-r",
    "--requirements",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="requirements.txt for -f: resolved here into wheels for the nodes, installed offline there.",
)
@click.option(
    "-x",
    "--program",
    metavar="CID",
    help="A function bundle (`codsh fn pack DIR`) or a WASI .wasm module, by CID.",
)
@click.option(
    "--fuel",
    type=click.IntRange(1),
    default=Limits.fuel,
    show_default=True,
    help="WASM modules: fuel units per file (a deterministic CPU bound).",
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
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the job as a spec file (YAML, for `codsh job run FILE`); run nothing.",
)
@click.option(
    "--max-price",
    callback=max_price_option,
    metavar="P",
    help="Refuse to start when the quote (`codsh job quote`) is over P; stop when the bill of "
    "what ran reaches P, keeping every finished file (`codsh job resume` goes on).",
)
@click.option("--job-id", hidden=True, help="Run as this recorded job (what --detach uses).")
@pass_settings
def submit(
    settings: Settings,
    /,
    command: str | None,
    script: Path | None,
    function: str,
    requirements: Path | None,
    program: str | None,
    fuel: int,
    concat: bool,
    detach: bool,
    dry_run: bool,
    job_id: str | None,
    max_price: float | None,
    **params: Any,
) -> None:  # long for its help text (the docstring); the body is short
    """Run CMD (or a Python function, or a WASM module) over every file of a CID; print the
    output CID.

    \b
    codsh job submit -e "sed -n '/38.7[2-4]....,-9.1[3-5]..../p'" -c bafy...
    codsh run -e "grep rain | wc -l" -c bafy... --concat
    codsh add data/ | codsh run -e "grep Lisbon" | codsh run -e "wc -l" --concat | codsh cat
    codsh job submit -f process.py --fn downscale -r requirements.txt -c bafy...
    codsh job submit -x bafy...module.wasm -c bafy...

    A function is called once per file with the file as a binary handle and returns bytes, str,
    None or an iterator of chunks (or takes a second argument, the output handle, and writes
    to it); an exception fails that file with its traceback in the manifest. Its requirements
    become wheels stored with the script as one bundle CID, installed on each node without
    network once per bundle and reused by later jobs.

    Files whose result is remembered from an earlier run (same command, image, options and input
    bytes) are not run again: a rerun on a grown dataset costs only the new files (see --no-memo).

    Exit status: 0 all files ok, 1 some failed or it stopped at --max-price (the partial
    output is still printed), 2 bad input or a quote over --max-price.
    """
    if dry_run:
        from codsh.commands.spec_file import dry_run_params
        from codsh.core.specfile import render

        click.echo(render(dry_run_params(click.get_current_context())), nl=False)
        return
    options = RunOptions.from_params(params)
    api = ApiClient.from_env()
    if api is not None:  # the orchestrator runs it (and pins the image by ID)
        from codsh.commands import remote

        chosen = remote.choose(
            api,
            command=command,
            script=script,
            function=function,
            requirements=requirements,
            program=program,
            image=options.image,
        )
        mode = CONCAT if concat else PER_FILE
        limits = replace(options.limits, fuel=fuel)
        spec = JobSpec(chosen.command, options.input, chosen.image, mode=mode, limits=limits)
        spec = replace(spec, kind=chosen.kind, program=chosen.program, **options.spec_fields())
        spec = replace(spec, target=replace(spec.target, max_price=max_price))
        remote.submit(api, spec, options.name, options.as_json, detach)
        return
    from codsh.commands.execution import execute, start_detached
    from codsh.executor.container import docker_client

    engine = docker_client()
    spec = local_spec(
        settings,
        engine,
        options,
        (command, script, function, requirements, program),
        fuel,
        concat,
        max_price,
    )
    if max_price is not None and not job_id:  # refused before it starts when the quote is over
        from codsh.commands.quote import check_quote

        check_quote(settings, spec, options.where, engine, max_price)
    from codsh.jobs.store import JobStore  # a job run here: not loaded for the orchestrator's

    store = JobStore(jobs_db())
    record = (
        store.adopt(job_id) if job_id else store.create(spec, options.where.runs_on, options.name)
    )
    if detach:
        store.close()
        click.echo(start_detached(record.id, options.input))
        return
    execute(settings, spec, store, record.id, options.where, options.as_json, engine)


def local_spec(
    settings: Settings,
    engine: docker.DockerClient,
    options: RunOptions,
    what: tuple[str | None, Path | None, str, Path | None, str | None],
    fuel: int,
    concat: bool,
    max_price: float | None = None,
) -> JobSpec:
    """The spec of a job run from here (`what`: -e, -f, --fn, -r, -x), its image pinned by
    digest (and by content for a cluster), checked to run where it is going."""
    from codsh.commands import programs
    from codsh.commands.images import pinned_image, with_image_cid

    command, script, function, requirements, program = what
    chosen = programs.choose(
        settings,
        engine,
        command=command,
        script=script,
        function=function,
        requirements=requirements,
        program=program,
        image=options.image,
    )
    digest, image_cid = pinned_image(settings, engine, chosen.image) if chosen.image else ("", "")
    spec = JobSpec(
        command=chosen.command,
        input=options.input,
        image=chosen.image,
        image_digest=digest,
        image_cid=image_cid,
        mode=CONCAT if concat else PER_FILE,
        limits=replace(options.limits, fuel=fuel),
        kind=chosen.kind,
        program=chosen.program,
        **options.spec_fields(),
    )
    spec = replace(spec, target=replace(spec.target, max_price=max_price))
    options.where.admits(spec)
    if options.where.scheduler:  # nodes with engines of their own load the image by content
        spec = with_image_cid(settings, engine, spec)
    return spec


run = click.Command(
    name="run",
    params=submit.params,
    callback=submit.callback,
    help=f"{inspect.cleandoc(submit.help or '')}\n\nAlias of `codsh job submit`.",
    short_help="Run CMD over every file of a CID (alias of `codsh job submit`).",
)
