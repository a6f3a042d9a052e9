"""The life of a job, written once: list, recall, split, plan and execute (here or on the
cluster, behind jobs/execution.py), collect, finish (merge, manifest). Records are the caller's
(jobs/recorded.py); every result goes through one event sink."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Protocol

import trio

from codsh import publish
from codsh.core.bill import Limit
from codsh.core.folders import KeptFolder, candidates, files_outside, still_held
from codsh.core.memo import Work, may_run, split
from codsh.core.model import FileResult, InputFile
from codsh.core.names import check_input
from codsh.core.spec import CONCAT, JobSpec
from codsh.inputs import InputTree, KeptLookup, list_input, listed_after_all
from codsh.ipfs.client import KuboClient
from codsh.jobs.events import Events, NoEvents, WithTwins
from codsh.jobs.execution import Execution, Ran, Run
from codsh.jobs.finish import JobResult, finish_job
from codsh.jobs.limit import execute_within


class Memo(Protocol):
    """The memo (jobs/store.py); blocking: run in a thread."""

    def recall(self, spec: JobSpec, cids: list[str]) -> Mapping[str, FileResult]:
        """Remembered results of input CIDs `cids` under `spec`."""
        ...

    def recall_folders(self, spec: JobSpec, cids: list[str]) -> Mapping[str, KeptFolder]:
        """Remembered outputs of folders `cids` under `spec` (core/folders.py)."""
        ...

    def remember_folders(self, spec: JobSpec, folders: list[KeptFolder]) -> None: ...


async def run_job(
    spec: JobSpec,
    ipfs: KuboClient,
    execution: Execution,
    events: Events | None = None,
    *,
    done: Mapping[str, FileResult] | None = None,
    memo: Memo | None = None,
    tree: InputTree | None = None,
) -> JobResult:
    """Run `spec` and merge its outputs. Files in `done` (an earlier run of the same job) are not
    run again, nor, with a `memo` and `spec.target.memo`, files whose result it remembers while
    their output is still stored; identical input files then run once. `tree`: the input's
    listing when the caller has it (the orchestrator lists at submit, for its limits)."""
    events = events or NoEvents()
    started = time.monotonic()
    if spec.target.publish:  # a target it could not publish to is refused before it runs
        await publish.preflight(spec.target.publish, spec.target.overwrite)
    use_memo = memo is not None and spec.target.memo
    if tree is None:
        lookup = folder_lookup(spec, memo) if use_memo else None
        tree = await list_input(ipfs, spec.input, spec.target.find_timeout, lookup)
    if spec.mode != CONCAT:  # a tree the merge would refuse is refused before anything runs
        check_input(spec.input, [f.path for f in tree.files], tree.directories)
    events.listed(tree)
    kept = await kept_folders(spec, tree, ipfs, memo) if use_memo else []
    tree = await listed_unkept(ipfs, spec, tree, kept)
    async with execution.open(spec, ipfs) as run:
        tree, kept, work = await what_to_run(
            spec, ipfs, run, tree, kept, done or {}, memo if use_memo else None
        )
        for folder in kept:
            events.folder(folder)
        for result in work.kept:
            events.file(result)
        ran, limit, stopped = Ran(), None, False
        if work.todo:  # nothing to prepare (a module, an environment) when all is remembered
            sink = WithTwins(events, work.twins).file
            if spec.target.max_price is None:
                ran = await run.execute(work.todo, sink)
            else:  # stopped when the bill reaches it: what finished is kept
                limit = Limit(spec.target.max_price)
                ran, stopped = await execute_within(run, work.todo, sink, limit)
        outputs_here = run.outputs_here
    results = work.complete(ran.results)
    job = await finish_job(
        ipfs, spec, tree, results, started, ran.placement, ran.setup, outputs_here, ran.shards, kept
    )
    if memo is not None and job.remember:
        await trio.to_thread.run_sync(memo.remember_folders, spec, job.remember)
    not_run = tree.file_count - job.file_count
    if stopped and limit is not None and not_run:  # stopped at the last file: it is done
        job.stopped = f"{limit.line()}; {not_run} files not run"
    if spec.target.publish:
        target = spec.target
        job.published = await publish.publish_output(
            ipfs, job.output_cid, target.publish, target.overwrite
        )
    return job


async def what_to_run(
    spec: JobSpec,
    ipfs: KuboClient,
    run: Run,
    tree: InputTree,
    kept: list[KeptFolder],
    done: Mapping[str, FileResult],
    memo: Memo | None,
) -> tuple[InputTree, list[KeptFolder], Work]:
    """The files to run and the results kept (from `done`, or a `memo` whose outputs are still
    held), asked in one inventory round with the inputs' holders; a `kept` folder with an output
    gone goes file by file (its files listed now), and a file whose remembered output is gone
    runs (a second round asks who holds its input)."""
    files = files_outside(tree.files, kept)
    known = await recalled(spec, files, memo)
    outputs = made_by(known.values())
    asked = may_run(files, done, known)
    available = await run.available(
        asked, outputs | {o: n for k in kept for o, n in k.made().items()}, kept
    )
    if len(held := still_held(kept, available)) < len(kept):  # go file by file in the rest
        kept = held
        tree = await listed_unkept(ipfs, spec, tree, kept)
        files = files_outside(tree.files, kept)
        known = await recalled(spec, files, memo)
    dedupe = memo is not None
    work = split(files, done, known, available, dedupe=dedupe)
    lost = {f.cid for f in work.todo}.difference(asked)
    if lost:  # remembered outputs are gone: their files run, and need their inputs' holders
        available = await run.available(sorted(lost.union(asked)), made_by(known.values()))
        work = split(files, done, known, available, dedupe=dedupe)
    return tree, kept, work


def made_by(results: Iterable[FileResult]) -> dict[str, str]:
    """The outputs of remembered `results`, each with the node that made it."""
    return {r.output_cid: r.node for r in results if r.output_cid}


async def kept_folders(
    spec: JobSpec, tree: InputTree, ipfs: KuboClient, memo: Memo | None
) -> list[KeptFolder]:
    """The outermost folders of the input whose output the memo remembers and whose output's
    root this kubo still has (the merge's nodes live where the job was merged). A listing that
    asked the memo already (and left them out) says which."""
    if memo is None or spec.mode == CONCAT or not tree.folders:
        return []
    if tree.memo_asked:
        found = tree.pruned
    else:
        cids = sorted(set(tree.folders.values()))
        known = await trio.to_thread.run_sync(memo.recall_folders, spec, cids)
        found = candidates(tree.folders, known)
    return [k for k in found if await ipfs.has_block(k.output_cid)]


def folder_lookup(spec: JobSpec, memo: Memo | None) -> KeptLookup | None:
    """What a listing asks the folder memo of the folders it walks into (inputs.Pruning): a
    folder the memo keeps is not listed (the job links its output whole)."""
    if memo is None or spec.mode == CONCAT:
        return None

    async def lookup(folders: dict[str, str]) -> dict[str, KeptFolder]:
        cids = sorted(set(folders.values()))
        known = await trio.to_thread.run_sync(memo.recall_folders, spec, cids)
        return {path: known[cid].at(path) for path, cid in folders.items() if cid in known}

    return lookup


async def listed_unkept(
    ipfs: KuboClient, spec: JobSpec, tree: InputTree, kept: list[KeptFolder]
) -> InputTree:
    """`tree` with the files of the folders its listing left out and the job does not keep
    after all (their output's root or some file's output is gone): they run file by file."""
    taken = {k.path for k in kept}
    unkept = [k for k in tree.pruned if k.path not in taken]
    if not unkept:
        return tree
    return await listed_after_all(ipfs, spec.input, tree, unkept, spec.target.find_timeout)


async def recalled(
    spec: JobSpec, files: list[InputFile], memo: Memo | None
) -> Mapping[str, FileResult]:
    """What the memo remembers of `files`' inputs (nothing without a memo)."""
    if memo is None or not files:
        return {}
    return await trio.to_thread.run_sync(memo.recall, spec, sorted({f.cid for f in files}))
