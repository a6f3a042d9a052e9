"""The memo: a file's result is a function of what ran and of the input file's bytes, so it is kept.

Content addressing makes incremental reruns natural: the same command, in the same image (by
digest), with the same result-changing options, over an input file with the same CID gives the
same output CID. A rerun on a dataset that grew by 1% runs only the new files and links the rest.

Pure logic (keys, what may be reused, identical inputs, the split of an input into results already
had and work to do); the store is in codsh/jobs/store.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TypeGuard

from codsh.core.model import FileResult, InputFile, Outcome
from codsh.core.spec import JobSpec, canonical_json

# Bump when what a key covers changes: old entries then simply stop matching. 2: grep's status 1
# became "no match" (core/exits), so results remembered under version 1 would be judged wrongly.
# 3: WASM modules get seeded randomness and a virtual clock (core/determinism), not ENOSYS.
KEY_VERSION = 3

# What does not change a file's result: where the input sits, how outputs are merged (the per-file
# output is the same) and where the job runs (the target), and limits that only decide whether a run finishes (a run that
# finished gives the same bytes under any other timeout, CPU share or fuel; unfinished runs are not
# kept).
NOT_IN_KEY = frozenset({"input", "mode", "target"})
LIMITS_NOT_IN_KEY = frozenset({"timeout", "cpus", "fuel"})


def memo_key(spec: JobSpec, input_cid: str) -> str:
    """The key of one input file's result under `spec`: a hash of everything else in the spec.

    Every spec field is in the key unless listed above, so a field added later (an environment,
    env vars) changes results safely by default. The image counts by digest when it has one.
    """
    return memo_keys(spec)(input_cid)


def memo_keys(spec: JobSpec) -> Callable[[str], str]:
    """`memo_key` under `spec` for many input CIDs: the spec's part is written once (a rerun
    looks up 10,000s of keys). The text is the canonical JSON of {"input", "spec", "v"}, whose
    sorted keys put the input first."""
    fields = {k: v for k, v in asdict(spec).items() if k not in NOT_IN_KEY}
    fields["limits"] = {k: v for k, v in fields["limits"].items() if k not in LIMITS_NOT_IN_KEY}
    if spec.image_digest:
        del fields["image"]
    if not spec.verify:  # every file verified (or one replica): keys made before it stay valid
        del fields["verify"]
    rest = "," + canonical_json({"v": KEY_VERSION, "spec": fields})[1:]

    def key(input_cid: str) -> str:
        quoted = f'"{input_cid}"' if input_cid.isalnum() else canonical_json(input_cid)
        text = '{"input":' + quoted + rest
        return hashlib.sha256(text.encode()).hexdigest()

    return key


def reusable(result: FileResult) -> bool:
    """A result that depends only on the input: the command ran to its end, its output was stored.

    A status that is not accepted is kept (it fails again the same way); a timeout, a lost
    container, an output cut at the limit or a signal (137 is the OOM killer) are not.
    """
    code = result.exit_code
    if result.reused or result.output_cid is None or code is None or not 0 <= code < 128:
        return False
    return result.outcome in (Outcome.OK, Outcome.NO_MATCH, Outcome.EXITED)


# What failed below the command (the infrastructure, a lost container, an input kubo could not
# give): `codsh job resume` runs those files again. Every other outcome is the command's own doing
# (it ran to an exit, a timeout, a limit or a trap) and a resume keeps it.
RETRIED_ON_RESUME = frozenset(
    {Outcome.INFRASTRUCTURE, Outcome.CONTAINER_LOST, Outcome.FETCH_FAILED}
)


def kept_on_resume(earlier: FileResult) -> bool:
    """Whether a resume keeps `earlier`, a result an earlier run of the same job recorded (and
    does not run its file again): yes unless what failed was below the command."""
    return earlier.outcome not in RETRIED_ON_RESUME


def reuse(result: FileResult, file: InputFile) -> FileResult:
    """`result` as the result of `file` (same input bytes, maybe another path)."""
    copied = result.copy()
    copied.path, copied.input_cid, copied.input_size = file.path, file.cid, file.size
    copied.reused = True
    return copied


def distinct(files: Iterable[InputFile]) -> tuple[list[InputFile], dict[str, list[InputFile]]]:
    """One file per input CID to run, and the other files with the same CID (computed once)."""
    first: dict[str, InputFile] = {}
    twins: dict[str, list[InputFile]] = {}
    for file in files:
        if file.cid in first:
            twins.setdefault(file.cid, []).append(file)
        else:
            first[file.cid] = file
    return list(first.values()), twins


def with_twins(results: list[FileResult], twins: Mapping[str, list[InputFile]]) -> list[FileResult]:
    """The results of files that share an input CID with a file that ran, copied from it."""
    return [reuse(r, twin) for r in results for twin in twins.get(r.input_cid, [])]


@dataclass
class Work:
    """What a run still has to do: distinct input files to run, the results it already has, and
    the files that share their input CID with a file to run (their result is copied)."""

    todo: list[InputFile]
    kept: list[FileResult]
    twins: dict[str, list[InputFile]]

    def complete(self, ran: list[FileResult]) -> list[FileResult]:
        return self.kept + ran + with_twins(ran, self.twins)


def resumed(earlier: FileResult | None, file: InputFile) -> TypeGuard[FileResult]:
    """Whether `earlier`, an earlier run's result for `file`'s path, is kept by a resume."""
    return earlier is not None and earlier.input_cid == file.cid and kept_on_resume(earlier)


def may_run(
    files: Iterable[InputFile], done: Mapping[str, FileResult], known: Mapping[str, FileResult]
) -> list[str]:
    """The input CIDs of the files `split` may send to run: not kept from an earlier run, and
    without a remembered output (one whose output is gone runs too, but that is known only once
    the nodes answer). Only these need their holders found: a rerun after 1% new files asks the
    nodes about 300 inputs, not 30,300."""
    cids: set[str] = set()
    for file in files:
        hit = known.get(file.cid)
        if not resumed(done.get(file.path), file) and (hit is None or not hit.output_cid):
            cids.add(file.cid)
    return sorted(cids)


def split(
    files: Iterable[InputFile],
    done: Mapping[str, FileResult],
    known: Mapping[str, FileResult],
    available: set[str],
    dedupe: bool = True,
) -> Work:
    """Split the input into work to do and results already had: from an earlier run of the same
    job (same path and input CID, and `kept_on_resume`: a file whose infrastructure failed runs
    again), or from the memo (same input CID, output in `available`).
    With `dedupe`, files with the same input CID run once (without: every file runs, as
    `--no-memo` promises)."""
    kept: list[FileResult] = []
    rest: list[InputFile] = []
    for file in files:
        earlier = done.get(file.path)
        hit = known.get(file.cid)
        if resumed(earlier, file):
            kept.append(earlier)
        elif hit is not None and hit.output_cid in available:
            kept.append(reuse(hit, file))
        else:
            rest.append(file)
    if not dedupe:
        return Work(rest, kept, {})
    todo, twins = distinct(rest)
    return Work(todo, kept, twins)
