"""The records every layer passes: input files, shards, and what happened to each file.

A file's outcome is typed: the memo, the vote and the reports decide on the outcome, never on the
wording of a message. The message is derived from the outcome (and the limits that caused it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from functools import cache
from typing import Any


@dataclass(frozen=True)
class InputFile:
    """A file of the input tree: `path` is relative to the input root ('' when the root is a file)."""

    path: str
    cid: str
    size: int


@dataclass(frozen=True)
class Shard:
    index: int
    files: tuple[InputFile, ...]

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


def path_order(path: str) -> tuple[str, ...]:
    """Input path order: component by component, bytewise, so `a/b` sorts before `a.txt`.

    Comparing str components by code point is the same as comparing their UTF-8 bytes.
    """
    return tuple(path.split("/"))


class Outcome(StrEnum):
    """What happened to one file. Only OK, NO_MATCH and EXITED depend on the input alone (see
    core/memo). OK and NO_MATCH are successes (see core/exits)."""

    OK = "ok"
    NO_MATCH = "no match"  # a grep that selected no line (status 1, silent): an empty output
    EXITED = "exited"  # ran to its end with a status that is not accepted
    TIMED_OUT = "timed out"
    OUTPUT_CUT = "output cut"  # stdout passed --output-limit; the first part is kept
    OUT_OF_MEMORY = "out of memory"  # killed by SIGKILL at the memory limit
    CONTAINER_LOST = "container lost"  # the container died without a status for the file
    CRASHED = "crashed"  # a WASM module trapped (the analogue of a fatal signal)
    FETCH_FAILED = "fetch failed"  # the input could not be read from kubo
    INFRASTRUCTURE = "infrastructure"  # below the command: container start, kubo write, node lost
    DISPUTED = "disputed"  # replicas disagreed and no strict majority formed (core/vote)


# When several things went wrong for one file, the outcome is the first of these that applies.
_PRECEDENCE = (
    Outcome.INFRASTRUCTURE,
    Outcome.DISPUTED,
    Outcome.TIMED_OUT,
    Outcome.CONTAINER_LOST,
    Outcome.CRASHED,
    Outcome.FETCH_FAILED,
    Outcome.OUTPUT_CUT,
    Outcome.OUT_OF_MEMORY,
    Outcome.EXITED,
    Outcome.NO_MATCH,
)
SUCCESSES = frozenset({Outcome.OK, Outcome.NO_MATCH})
SIGKILL_STATUS = 137  # 128 + 9: the kernel's OOM killer (nothing else in the container sends it)


def exit_error(code: int) -> str:
    """The message of a file whose command ran to its end with a non-zero status."""
    return f"exited with code {code}"


def timeout_error(seconds: float, how: str) -> str:
    return f"timed out after {seconds:g}s ({how})"


def output_error(limit: int) -> str:
    return f"output larger than the limit ({limit} bytes); kept the first part"


def memory_error(limit: int) -> str:
    return f"killed at the memory limit ({_size(limit)}; exit code {SIGKILL_STATUS})"


def _size(count: int) -> str:
    for unit, scale in (("g", 1024**3), ("m", 1024**2), ("k", 1024)):
        if count >= scale and count % scale == 0:
            return f"{count // scale}{unit}"
    return f"{count} bytes"


def worst(outcomes: list[Outcome]) -> Outcome:
    """The outcome of a file that met all of `outcomes` (OK when there are none)."""
    for outcome in _PRECEDENCE:
        if outcome in outcomes:
            return outcome
    return Outcome.OK


@dataclass
class FileResult:
    """What happened to one input file; `error` is None exactly when the outcome is a success."""

    path: str
    input_cid: str
    input_size: int
    exit_code: int | None = None
    output_cid: str | None = None
    output_size: int = 0
    output_tsize: int = 0
    stderr: str = ""
    stderr_cid: str | None = None
    seconds: float = 0.0
    error: str | None = None  # the message, derived from the outcome
    node: str = ""  # where it ran, on a cluster
    reused: bool = False  # taken from the memo (an earlier run on the same input), not run
    fuel: int = 0  # WASM fuel units the run used (metering; 0 for containers)
    outcome: Outcome = Outcome.OK
    vote: dict[str, Any] | None = None  # replicated runs: who agreed, who was outvoted (core/vote)
    commitment: str | None = None  # replicated runs: the node's hash over its answer (core/commit)
    # metering (core/bill): what this run used, and what it costs at its node's price list
    cpu_seconds: float = 0.0  # user+system CPU of the file's processes (the shard's cgroup)
    peak_memory: int = 0  # bytes: the memory high-water mark while the file ran
    bytes_read: int = 0  # input bytes this node's kubo had stored (it held the file)
    bytes_fetched: int = 0  # input bytes its kubo fetched from other nodes
    bytes_written: int = 0  # output and stderr bytes stored into kubo
    container_starts: int = 0  # 1 for the first file of each container (a fresh one started)
    cost: float = 0.0  # the bill for this file: every replica's use x its node's price list
    replica_use: list[dict[str, Any]] | None = None  # replicated runs: each replica's use, cost

    @property
    def ok(self) -> bool:
        return self.outcome in SUCCESSES

    @property
    def ran(self) -> bool:
        """The command ran on the file (whatever it did); false when the infrastructure failed."""
        return self.outcome is not Outcome.INFRASTRUCTURE

    def fail(self, outcome: Outcome, message: str) -> None:
        """Add a failure: the outcome becomes the worse of the two, the messages are joined."""
        self.outcome = worst([self.outcome, outcome])
        self.error = f"{self.error}; {message}" if self.error else message

    @classmethod
    def lost(cls, file: InputFile, outcome: Outcome, message: str, node: str = "") -> FileResult:
        """The result of a file that did not run (its shard or node was lost)."""
        return cls(file.path, file.cid, file.size, error=message, node=node, outcome=outcome)

    def as_dict(self) -> dict[str, Any]:
        """A flat dict (JSON): ~10x faster than dataclasses.asdict over 10,000s of results."""
        entry = dict(vars(self))
        entry["outcome"] = str(self.outcome)
        return entry

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> FileResult:
        """The inverse of `as_dict`; records written before outcomes were typed get one inferred
        from their message (the only place a message is read)."""
        known = _result_fields()
        values = (
            dict(entry) if known.issuperset(entry) else {k: entry[k] for k in known & set(entry)}
        )
        if "outcome" in values:
            values["outcome"] = _OUTCOMES.get(values["outcome"]) or Outcome(values["outcome"])
        else:
            values["outcome"] = _legacy_outcome(values.get("error"), values.get("exit_code"))
        if len(values) < len(known):  # an older record: the fields it lacks take their defaults
            return cls(**values)
        return _filled(values)  # every field given

    def copy(self) -> FileResult:
        """A shallow copy, as `dataclasses.replace` would make, ~10x faster (a rerun copies
        10,000s of remembered results)."""
        return _filled(vars(self))


_OUTCOMES = {str(outcome): outcome for outcome in Outcome}


def _filled(values: dict[str, Any]) -> FileResult:
    """A FileResult with exactly `values`, every field among them, made without running
    __init__, which costs ~10x more (a rerun decodes and copies 10,000s of remembered results)."""
    result = object.__new__(FileResult)
    result.__dict__.update(values)
    return result


@cache
def _result_fields() -> frozenset[str]:
    return frozenset(f.name for f in fields(FileResult))


def _legacy_outcome(error: str | None, code: int | None) -> Outcome:
    if error is None:
        return Outcome.OK
    if code is not None and error == exit_error(code):
        return Outcome.OUT_OF_MEMORY if code == SIGKILL_STATUS else Outcome.EXITED
    return Outcome.INFRASTRUCTURE  # never reused: only OK and EXITED are


@dataclass(frozen=True)
class ShardUse:
    """What one run of a shard used (metering): its files' use summed, and its own wall time,
    which also covers starting its container and the runner's cleaning up between files. A shard
    run again (its node lost) has a record per run."""

    index: int
    node: str
    files: int
    seconds: float
    cpu_seconds: float = 0.0
    peak_memory: int = 0  # the highest of its files'
    bytes_read: int = 0
    bytes_fetched: int = 0
    bytes_written: int = 0
    container_starts: int = 0
    fuel: int = 0

    @classmethod
    def of(cls, index: int, node: str, results: Sequence[FileResult], seconds: float) -> ShardUse:
        ran = [r for r in results if not r.reused]
        return cls(
            index,
            node,
            len(ran),
            round(seconds, 3),
            round(sum(r.cpu_seconds for r in ran), 6),
            max((r.peak_memory for r in ran), default=0),
            sum(r.bytes_read for r in ran),
            sum(r.bytes_fetched for r in ran),
            sum(r.bytes_written for r in ran),
            sum(r.container_starts for r in ran),
            sum(r.fuel for r in ran),
        )


@dataclass(frozen=True)
class Setup:
    """What getting ready cost a node: a Python environment built now, or taken from its cache
    (recorded in the manifest: the second job with the same requirements builds nothing)."""

    environment: str  # the cache key (image ID + bundle CID)
    built: bool
    seconds: float
    node: str = ""
    image: str = ""  # a Python job's image by content: its CID, whether it was loaded, how long
    image_loaded: bool = False
    image_seconds: float = 0.0
