"""The quote's sample run (core/quote.py decides the sample and the estimate): the sampled files
run as a real recorded job of their own through the normal job life, on the input's listing cut
down to them, so their results land in the memo and the job itself does not pay for them again.
Used by `codsh job quote`, `job submit --max-price` and the orchestrator for `target.max_price`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from codsh.core.bill import PriceList, use_of
from codsh.core.model import FileResult
from codsh.core.quote import Quote, bands, estimate
from codsh.core.spec import JobSpec
from codsh.errors import InfrastructureError, InputError
from codsh.inputs import InputTree, list_input
from codsh.ipfs.client import KuboClient
from codsh.jobs.execution import Execution
from codsh.jobs.recorded import run_recorded
from codsh.jobs.store import JobStore


async def quote_job(
    store: JobStore,
    spec: JobSpec,
    ipfs: KuboClient,
    execution_for: Callable[[str], Execution],
    runs_on: str,
    tree: InputTree | None = None,
    owner: str | None = None,
) -> tuple[Quote, str]:
    """Run the sample of `spec`'s files as a recorded job (`execution_for(its ID)` runs it);
    the quote and the sample job's ID. `tree`: the input's listing, when the caller has it."""
    sample = replace(spec, target=replace(spec.target, max_price=None, publish=()))
    record = store.create(sample, runs_on, owner=owner)
    if tree is None:
        tree = await list_input(ipfs, spec.input, spec.target.find_timeout)
    cut = bands(tree.files)
    picks = {b.pick.path for b in cut}
    files = [f for f in tree.files if f.path in picks]
    execution = execution_for(record.id)
    result = await run_recorded(
        store,
        record.id,
        sample,
        ipfs,
        execution,
        tree=replace(tree, files=files, folders={}, pruned=[]),
    )
    costs = {r.input_cid: cost_of(r) for r in result.files if r.ran}
    starts = {r.input_cid: starts_of(r) for r in result.files if r.ran}
    try:
        return estimate(cut, costs, spec.replicas, starts, spec.target.shard_size), record.id
    except ValueError:
        raise InfrastructureError(
            f"no sampled file of job {record.id} could be metered: nothing to quote from",
            f"`codsh job logs {record.id}` says what happened to them",
        ) from None


def over_limit(quoted: Quote, limit: float, sample_job: str) -> InputError | None:
    """The refusal of a job whose quote is over its `--max-price`, else None."""
    if quoted.estimate <= limit:
        return None
    return InputError(
        f"the quote for this job is {quoted.estimate:.6g} (range {quoted.low:.6g} to "
        f"{quoted.high:.6g}), more than --max-price {limit:g}; nothing else was run",
        f"raise --max-price, or run it on less data; the {quoted.sampled} sampled files "
        f"(job {sample_job}) are remembered and will not be paid for again",
    )


def cost_of(result: FileResult) -> float:
    """What a sampled file's run cost (every replica's): priced by its node's list on a
    cluster, at the default list on one machine; a remembered result at what it cost then."""
    return result.cost if result.node else PriceList().cost(use_of(result))


def starts_of(result: FileResult) -> int:
    """How many containers a sampled file's runs started (each paid for by its first file)."""
    runs = result.replica_use or [{"container_starts": result.container_starts}]
    return sum(int(run.get("container_starts", 0) or 0) for run in runs)
