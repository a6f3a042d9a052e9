"""The manifest: a job's record stored beside its output (spec, summary, the bill per node, and per
file outcome, exit code, stderr excerpt and CID, sizes, node, timing, metered use and cost). Built
here without I/O; jobs/finish stores it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from codsh import __version__
from codsh.core.bill import bill
from codsh.core.folders import KeptFolder
from codsh.core.model import FileResult, Outcome, Setup, ShardUse, path_order
from codsh.core.plan import LocalityReport
from codsh.core.spec import JobSpec, canonical_json

STDERR_EXCERPT = 2000


def excerpt(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters, keeping its start and its end (where a traceback
    says what went wrong); the whole stderr stays at its CID."""
    if len(text) <= limit:
        return text
    head = limit // 3
    return f"{text[:head]}\n[...]\n{text[len(text) - (limit - head) :]}"


def summary(
    results: Sequence[FileResult], seconds: float, kept: Sequence[KeptFolder] = ()
) -> dict[str, float | int]:
    """The counts over every file, those of folders linked whole (all succeeded, reused) too."""
    files = sum(k.files for k in kept)
    return {
        "files": len(results) + files,
        "ok": sum(1 for r in results if r.ok) + files,
        "no_match": sum(1 for r in results if r.outcome is Outcome.NO_MATCH)
        + sum(k.no_match for k in kept),
        "failed": sum(1 for r in results if not r.ok),
        "reused": sum(1 for r in results if r.reused) + files,
        "bytes_in": sum(r.input_size for r in results) + sum(k.bytes_in for k in kept),
        "bytes_out": sum(r.output_size for r in results) + sum(k.size for k in kept),
        "seconds": seconds,
    }


def build_manifest(
    spec: JobSpec,
    output_cid: str,
    results: Sequence[FileResult],
    seconds: float,
    placement: LocalityReport | None = None,
    setup: Sequence[Setup] = (),
    shards: Sequence[ShardUse] = (),
    kept: Sequence[KeptFolder] = (),
) -> str:
    """The manifest's canonical JSON; files in input path order. Folders linked whole from the
    folder memo are listed as folders (their files' records are in the manifests of the job that
    ran them), under "folders", only when there are some."""
    files = []
    for r in sorted(results, key=lambda r: path_order(r.path)):
        entry = r.as_dict()
        entry["stderr"] = excerpt(r.stderr, STDERR_EXCERPT)
        files.append(entry)
    manifest = {
        "codsh": __version__,
        "spec": asdict(spec),
        "output": output_cid,
        "summary": summary(results, seconds, kept),
        "placement": asdict(placement) if placement else None,
        "setup": [asdict(s) for s in setup],
        "shards": [asdict(s) for s in sorted(shards, key=lambda s: (s.node, s.index))],
        "bill": bill(results),  # use summed per node, x each node's price list (core/bill)
        "files": files,
    }
    if kept:
        manifest["folders"] = [k.entry() for k in sorted(kept, key=lambda k: path_order(k.path))]
    return canonical_json(manifest)


def every_file(
    manifest: Mapping[str, Any], read: Callable[[str], Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Every file's entry of `manifest`, in input path order, those of its kept folders too: read
    (`read`: a manifest by CID) from the manifests of the jobs that ran them, under the path the
    folder has here, as reused."""
    files = [dict(entry) for entry in manifest["files"]]
    for folder in manifest.get("folders", []):
        source, here = folder["from"], folder["path"]
        for entry in every_file(read(folder["manifest"]), read):
            if entry["path"].startswith(source + "/"):
                files.append({**entry, "path": here + entry["path"][len(source) :], "reused": True})
    return sorted(files, key=lambda entry: path_order(entry["path"]))
