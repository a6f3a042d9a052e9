"""`codsh job quote`: what a job would cost, from a stratified sample of its files run first
(core/quote.py), and the check `job submit --max-price` makes before it starts.

The sample runs as a real, recorded job through the normal job pipeline, on the input's listing
cut down to the sampled files: its results land in the memo, so the job itself does not pay for
them again. Its runs are priced as the bill prices them: with the list each node published (a
cluster), or on one machine with the default list (core/bill.py).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click

from codsh.commands.settings import Settings, pass_settings, run_async
from codsh.commands.submit import local_spec, submit
from codsh.core.spec import JobSpec
from codsh.errors import InfrastructureError, InputError

if TYPE_CHECKING:
    import docker

    from codsh.core.model import FileResult
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
    from codsh.progress import stderr

    quoted, job_id = run_quote(settings, spec, where, engine)
    stderr.print(quoted.line(), markup=False)
    if quoted.estimate > limit:
        raise InputError(
            f"the quote for this job is {quoted.estimate:.6g} (range {quoted.low:.6g} to "
            f"{quoted.high:.6g}), more than --max-price {limit:g}; nothing else was run",
            f"raise --max-price, or run it on less data; the {quoted.sampled} sampled files "
            f"(job {job_id}) are remembered and will not be paid for again",
        )


def run_quote(
    settings: Settings, spec: JobSpec, where: Where, engine: docker.DockerClient
) -> tuple[Quote, str]:
    """Run the sample of `spec`'s files as a recorded job; its quote and the job's ID."""
    from codsh.config import jobs_db
    from codsh.core.quote import bands, estimate
    from codsh.inputs import list_input
    from codsh.jobs.recorded import run_recorded
    from codsh.jobs.store import JobStore

    sample = replace(spec, target=replace(spec.target, max_price=None, publish=()))
    with JobStore(jobs_db()) as store:
        record = store.create(sample, where.runs_on)
        suspects = store.outvoted_nodes() if spec.verify else frozenset()
        execution = where.execution(record.id, engine, suspects)

        async def go() -> tuple[Any, Any]:
            async with settings.kubo() as ipfs:
                tree = await list_input(ipfs, spec.input, spec.target.find_timeout)
                cut = bands(tree.files)
                picks = {b.pick.path for b in cut}
                files = [f for f in tree.files if f.path in picks]
                return cut, await run_recorded(
                    store, record.id, sample, ipfs, execution, tree=replace(tree, files=files)
                )

        cut, result = run_async(go)
    costs = {r.input_cid: cost_of(r) for r in result.files if r.ran}
    starts = {r.input_cid: starts_of(r) for r in result.files if r.ran}
    try:
        return estimate(cut, costs, spec.replicas, starts, spec.target.shard_size), record.id
    except ValueError:
        raise InfrastructureError(
            f"no sampled file of job {record.id} could be metered: nothing to quote from",
            f"`codsh job logs {record.id}` says what happened to them",
        ) from None


def cost_of(result: FileResult) -> float:
    """What a sampled file's run cost (every replica's): priced by its node's list on a
    cluster, at the default list on one machine; a remembered result at what it cost then."""
    from codsh.core.bill import PriceList, use_of

    return result.cost if result.node else PriceList().cost(use_of(result))


def starts_of(result: FileResult) -> int:
    """How many containers a sampled file's runs started (each paid for by its first file)."""
    runs = result.replica_use or [{"container_starts": result.container_starts}]
    return sum(int(run.get("container_starts", 0) or 0) for run in runs)
