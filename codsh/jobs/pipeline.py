"""A pipeline's life: each step (core/pipeline.py decides the steps) a recorded job fed by the last
step's output CID, recorded as one pipeline job with its lineage (per step: job, input, output)."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import trio

from codsh import publish
from codsh.core.pipeline import Step, can_fuse, group_steps, parse_stages
from codsh.core.spec import CONCAT, PER_FILE, JobSpec, canonical_json
from codsh.errors import CodshError, leaf
from codsh.ipfs.client import KuboClient
from codsh.jobs.events import Events
from codsh.jobs.execution import Execution
from codsh.jobs.finish import JobResult
from codsh.jobs.recorded import run_recorded
from codsh.jobs.states import CANCELLED
from codsh.jobs.store import JobRecord, JobStore, new_id


class PipelineEvents(Events, Protocol):
    def stage(self, number: int, total: int, step: Step) -> None:
        """Step `number` of `total` starts."""

    def staged(self, result: JobResult, job_id: str) -> None:
        """A step ended (its summary)."""


@dataclass
class PipelineResult:
    output: str
    failed: int  # input files lost in some step (a file failing twice counts once)
    lineage: list[dict[str, Any]] = field(default_factory=list)


def new_pipeline(
    store: JobStore,
    stages: list[str],
    first: JobSpec,
    fuse: bool,
    runs_on: str,
    name: str | None = None,
    owner: str | None = None,
) -> tuple[JobRecord, list[Step]]:
    """Record a new pipeline of `stages` over `first.input` (with `first`'s image, limits and
    target), and the steps it runs: adjacent per-file stages fused where the image allows."""
    steps = group_steps(parse_stages(stages), fuse=fuse and can_fuse(first.image))
    description = "pipe " + " ".join(shlex.quote(word) for word in stages)
    definition = {"stages": stages, "fuse": fuse, "image": first.image_digest, "input": first.input}
    record = store.create_pipeline(
        new_id(), description, first.input, canonical_json(definition), runs_on, name, owner
    )
    return record, steps


def describe(step: Step) -> str:
    """The step's stages as the user wrote them, e.g. `grep Lisbon | cut -d, -f4 --concat`."""
    text = " | ".join(stage.command for stage in step.stages)
    return f"{text} --concat" if step.concat else text


async def run_pipeline(
    store: JobStore,
    pipeline_id: str,
    steps: list[Step],
    first: JobSpec,
    ipfs: KuboClient,
    execution: Callable[[str], Execution],
    events: PipelineEvents,
    runs_on: str,
    owner: str | None = None,
) -> PipelineResult:
    """Run `steps` over `first.input`, each as job `{pipeline_id}-{n}` with `first`'s image,
    limits and target; a step failing on some files hands its partial output on."""
    started = time.monotonic()
    if first.target.publish:  # refused before the first stage runs, not after the last
        await publish.preflight(first.target.publish, first.target.overwrite)
    lineage: list[dict[str, Any]] = []
    lost: set[str] = set()  # paths of files that failed in some step ('' after a --concat)
    current = first.input
    for number, step in enumerate(steps, start=1):
        mode = CONCAT if step.concat else PER_FILE
        spec = replace(first, command=step.command, input=current, mode=mode)
        if number < len(steps):  # only the pipeline's output is published
            spec = replace(spec, target=replace(first.target, publish=()))
        job_id = f"{pipeline_id}-{number}"
        store.create(spec, runs_on, job_id=job_id, owner=owner)
        events.stage(number, len(steps), step)
        try:
            result = await run_recorded(store, job_id, spec, ipfs, execution(job_id), events)
        except BaseException as exc:
            if leaf(exc, trio.Cancelled) or leaf(exc, KeyboardInterrupt):
                store.fail(pipeline_id, f"stage {number} ({describe(step)}): cancelled", CANCELLED)
            else:
                why = str(leaf(exc, CodshError) or exc) or type(exc).__name__
                store.fail(pipeline_id, f"stage {number} ({describe(step)}): {why}")
            raise
        events.staged(result, job_id)
        lineage.append({"stage": number, "job": job_id, "command": describe(step)})
        lineage[-1].update(stage_record(result))
        lost.update(r.path for r in result.failed)
        store.set_stages(pipeline_id, lineage)
        current = result.output_cid
    failed = min(len(lost), lineage[0]["files"])
    store.finish_pipeline(pipeline_id, lineage, failed, round(time.monotonic() - started, 3))
    return PipelineResult(current, failed, lineage)


def stage_record(result: JobResult) -> dict[str, Any]:
    """A step's line of lineage: what it read, what it made, what it lost."""
    return {"input": result.spec.input, **result.counts()}
