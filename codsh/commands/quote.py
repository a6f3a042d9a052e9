"""`codsh job quote`: what a job would cost, from a stratified sample of its files run first
(core/quote.py), and the check `job submit --max-price` makes before it starts.

The sample runs as a real, recorded job through the normal job pipeline (jobs/quote.py): its
results land in the memo, so the job itself does not pay for them again. Its runs are priced as
the bill prices them: with the list each node published (a cluster), or on one machine with the
default list (core/bill.py).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from codsh.commands.settings import Settings, pass_settings, run_async
from codsh.commands.submit import local_spec, submit
from codsh.core.spec import JobSpec
from codsh.errors import InputError

if TYPE_CHECKING:
    import docker

    from codsh.core.quote import Quote
    from codsh.jobs.where import Where

# submit's options that say nothing about a quote (the sample is neither named nor published)
NOT_QUOTE_OPTIONS = {"concat", "detach", "dry_run", "job_id", "max_price", "publish", "overwrite"}
NOT_QUOTE_OPTIONS |= {"name"}


@pass_settings
def quote_command(
    settings: Settings,
    /,
    command: str | None,
    script: Any,
    function: str,
    requirements: Any,
    program: str | None,
    fuel: int,
    **params: Any,
) -> None:
    """What a job would cost: run a small sample of its files (about 1%, at least 12, at most
    30, spread over the files' sizes), scale their metered use by bytes, and price it as the
    bill would. Print the estimate and its range (the estimate divided and multiplied by 1 + two
    standard errors of the sampled files' deviation from a per-file + per-byte fit).

    \b
    codsh job quote -e "grep rain" -c bafy...
    codsh job quote -e "grep rain" -c bafy... --replicas 3 --json

    The sampled files' results are real: they are remembered, so the job run afterwards does
    not run (nor pay for) them again. Takes the options of `codsh job submit`.

    Exit status: 0 quoted, 1 no sampled file could be metered, 2 bad input.
    """
    from codsh.client.api import ApiClient
    from codsh.commands.run_options import RunOptions
    from codsh.executor.container import docker_client

    if ApiClient.from_env() is not None:
        raise InputError(
            "codsh job quote runs the sample from this machine, not yet through the "
            "orchestrator (CODSH_API is set)",
            "run it where the cluster's certificates are (--scheduler, --tls), or unset CODSH_API",
        )
    options = RunOptions.from_params({**params, "publish": (), "overwrite": False, "name": None})
    engine = docker_client()
    what = (command, script, function, requirements, program)
    spec = local_spec(settings, engine, options, what, fuel, False)
    quoted, job_id = run_quote(settings, spec, options.where, engine)
    if options.as_json:
        click.echo(json.dumps({**quoted.as_dict(), "sample_job": job_id}))
    else:
        click.echo(quoted.line())
        click.echo(f"the sample ran as job {job_id} (`codsh job describe {job_id}`: its bill)")


quote = click.Command(
    name="quote",
    params=[p for p in submit.params if p.name not in NOT_QUOTE_OPTIONS],
    callback=quote_command,
    help=quote_command.__doc__,
    short_help="What a job would cost, from a sample of its files run first.",
)


def check_quote(
    settings: Settings, spec: JobSpec, where: Where, engine: docker.DockerClient, limit: float
) -> None:
    """`--max-price`: quote the job, say the quote, and refuse to start (exit 2) when it is
    over `limit`."""
    from codsh.jobs.quote import over_limit
    from codsh.terminal import stderr

    quoted, job_id = run_quote(settings, spec, where, engine)
    stderr.print(quoted.line(), markup=False)
    refused = over_limit(quoted, limit, job_id)
    if refused is not None:
        raise refused


def run_quote(
    settings: Settings, spec: JobSpec, where: Where, engine: docker.DockerClient
) -> tuple[Quote, str]:
    """Run the sample of `spec`'s files here (jobs/quote.py); its quote and the job's ID."""
    from codsh.config import jobs_db
    from codsh.jobs.quote import quote_job
    from codsh.jobs.store import JobStore

    with JobStore(jobs_db()) as store:
        suspects = store.outvoted_nodes() if spec.verify else frozenset()

        async def go() -> tuple[Quote, str]:
            async with settings.kubo() as ipfs:
                return await quote_job(
                    store,
                    spec,
                    ipfs,
                    lambda job: where.execution(job, engine, suspects),
                    where.runs_on,
                )

        return run_async(go)
