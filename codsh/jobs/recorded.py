"""A recorded job: the job's life (jobs/run.py) with its record kept in the job store, from its
start to whatever end it has: per-file results (and memo entries) as they come, then succeeded,
partial, error or cancelled, with what finished kept for `codsh job resume`."""

from __future__ import annotations

from collections.abc import Mapping

import trio

from codsh.core.model import FileResult
from codsh.core.spec import JobSpec
from codsh.errors import CodshError, leaf
from codsh.inputs import InputTree
from codsh.ipfs.client import KuboClient
from codsh.jobs.events import Events, Fanout, NoEvents, Recorder
from codsh.jobs.execution import Execution
from codsh.jobs.finish import JobResult
from codsh.jobs.run import run_job
from codsh.jobs.states import CANCELLED
from codsh.jobs.store import JobStore


async def run_recorded(
    store: JobStore,
    job_id: str,
    spec: JobSpec,
    ipfs: KuboClient,
    execution: Execution,
    events: Events | None = None,
    done: Mapping[str, FileResult] | None = None,
    tree: InputTree | None = None,
) -> JobResult:
    """Run recorded job `job_id` to its end and record that end, whatever it is (`tree`: its
    input's listing, when the caller made it already)."""
    recorder = Recorder(store, job_id, memo_of=spec)
    try:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(recorder.run)
                await ipfs.version()  # fail fast, with the how-to-start hint, when kubo is down
                sink = Fanout(events or NoEvents(), recorder)
                result = await run_job(
                    spec, ipfs, execution, sink, done=done, memo=store, tree=tree
                )
                nursery.cancel_scope.cancel()
        finally:
            await recorder.flush()
    except BaseException as exc:
        if leaf(exc, KeyboardInterrupt) or leaf(exc, trio.Cancelled):
            store.fail(job_id, "cancelled", CANCELLED)
        else:
            store.fail(job_id, str(leaf(exc, CodshError) or exc) or type(exc).__name__)
        raise
    store.finish(job_id, result)
    return result
