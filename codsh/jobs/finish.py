"""The end every job shares: merge the outputs by reference, store the new nodes and the manifest,
and say how it went. The layout and the manifest are decided in core/; this stores them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from codsh.core.folders import KeptFolder, outside, to_remember
from codsh.core.manifest import build_manifest
from codsh.core.merge import Merged, MergeError, Output, merge_concat, merge_per_file, pin_batches
from codsh.core.model import FileResult, Setup, ShardUse
from codsh.core.plan import LocalityReport
from codsh.core.publish import Report
from codsh.core.spec import CONCAT, JobSpec
from codsh.core.unixfs import raw_cid
from codsh.errors import InputError
from codsh.inputs import InputTree
from codsh.ipfs.blocks import put_blocks
from codsh.ipfs.client import AddOptions, KuboClient

EMPTY_RAW = raw_cid(b"")


@dataclass
class JobResult:
    output_cid: str
    manifest_cid: str
    files: list[FileResult]
    seconds: float
    spec: JobSpec
    failed: list[FileResult] = field(default_factory=list)
    placement: LocalityReport | None = None  # how local a cluster run was
    setup: list[Setup] = field(default_factory=list)  # environments built or reused, per node
    published: list[Report] = field(default_factory=list)  # where the output was copied (--publish)
    stopped: str = ""  # why the job stopped before every file ran (its price limit), if it did
    folders: list[KeptFolder] = field(default_factory=list)  # linked whole from the folder memo
    remember: list[KeptFolder] = field(default_factory=list)  # folders the memo may keep now

    @property
    def ok(self) -> bool:
        return not self.failed and not self.stopped

    @property
    def file_count(self) -> int:
        """Every file of the input the job accounts for: `files` and those of kept folders."""
        return len(self.files) + sum(k.files for k in self.folders)

    @property
    def reused(self) -> int:
        """Files not run: their result came from the memo or from a file with the same CID."""
        return sum(1 for r in self.files if r.reused) + sum(k.files for k in self.folders)

    def counts(self) -> dict[str, str | int | float]:
        """Output and manifest CIDs and the counts: what a summary, JSON or lineage shows."""
        return {
            "output": self.output_cid,
            "manifest": self.manifest_cid,
            "files": self.file_count,
            "failed": len(self.failed),
            "reused": self.reused,
            "seconds": self.seconds,
            **({"stopped": self.stopped} if self.stopped else {}),
        }


async def finish_job(
    ipfs: KuboClient,
    spec: JobSpec,
    tree: InputTree,
    results: list[FileResult],
    started: float,
    placement: LocalityReport | None = None,
    setup: list[Setup] | None = None,
    outputs_here: bool = True,
    shards: Sequence[ShardUse] = (),
    kept: Sequence[KeptFolder] = (),
) -> JobResult:
    """Merge by reference, store the manifest, and say how it went (one node and cluster alike).

    Without `outputs_here` (a cluster run) the outputs live on the nodes that made them, which
    pinned them; the driver's kubo then stores and pins only the new merge nodes, fetching no output.
    `kept`: folders linked whole (core/folders.py); the job's result says which folders the memo
    may remember now.
    """
    merged = await store_merge(ipfs, spec, tree, results, outputs_here, kept)
    seconds = round(time.monotonic() - started, 3)
    manifest = build_manifest(
        spec, merged.cid, results, seconds, placement, setup or (), shards, kept
    )
    manifest_cid = (await ipfs.add_bytes(manifest.encode(), AddOptions())).cid
    failed = [r for r in results if not r.ok]
    job = JobResult(
        merged.cid, manifest_cid, results, seconds, spec, failed, placement, setup or []
    )
    job.folders = list(kept)
    if spec.mode != CONCAT and job.file_count == tree.file_count:  # (not when stopped early)
        job.remember = to_remember(tree.folders, results, kept, merged.folders, manifest_cid)
    return job


async def store_merge(
    ipfs: KuboClient,
    spec: JobSpec,
    tree: InputTree,
    results: list[FileResult],
    outputs_here: bool = True,
    kept: Sequence[KeptFolder] = (),
) -> Merged:
    """Merge the outputs by reference and store the new nodes; files without output get an empty
    one; kept folders are linked whole (their nodes are stored and pinned from their first run)."""
    outputs = [
        Output(r.path, r.output_cid, r.output_size, r.output_tsize)
        if r.output_cid
        else Output(r.path, EMPTY_RAW, 0, 0)
        for r in results
    ]
    if any(r.output_cid is None for r in results):
        await ipfs.block_put(b"", codec="raw")
        if not outputs_here:
            await ipfs.pin_add(EMPTY_RAW, recursive=False)
    try:
        if spec.mode == CONCAT:
            merged = merge_concat(outputs)
        else:
            whole = [Output(k.path, k.output_cid, k.size, k.tsize) for k in kept]
            merged = merge_per_file(outputs, outside(tree.directories, kept), whole)
    except MergeError as exc:
        raise InputError(str(exc)) from exc
    await put_blocks(ipfs, merged.blocks, "a merge node")  # a batch a request
    if not outputs_here:
        for cids in pin_batches(merged.blocks):  # a HAMT's 10,000s of nodes pass one URL's limit
            await ipfs.pin_add(*cids, recursive=False)
    else:  # everything is local: one recursive pin covers it all
        await ipfs.pin_add(merged.cid)
    return merged
