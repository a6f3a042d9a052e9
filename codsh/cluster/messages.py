"""What goes between the driver and the nodes, typed once. Pure: no Dask here.

Messages cross Dask as plain dicts of JSON types (`to_wire` / `from_wire`), so a node and a driver
need no pickled codsh class in common, and per-file messages pass Dask's msgpack-only event log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from codsh.core.model import FileResult, Setup, ShardUse

Wire = dict[str, Any]
FILE_DONE = "codsh.file-done"  # the kind of a per-file message (other events share its topic)
FILES_DONE = "codsh.files-done"  # several of them in one event (cluster/news.py)


@dataclass(frozen=True)
class InventoryAnswer:
    """A node's answer to the inventory round: am I healthy, who am I, which of the inputs asked
    I hold, and which of the remembered outputs asked I lack (usually none: a rerun asks about
    10,000s of outputs, and an answer naming each it holds cost more than the question)."""

    healthy: bool
    labels: Mapping[str, str] = field(default_factory=dict)
    slots: int = 1
    held: tuple[str, ...] = ()
    peer: str = ""  # its kubo's peer ID
    error: str = ""  # why it is not healthy
    codsh: bool = True  # False: a Dask worker without the codsh plugin (it is left out)
    prices: Mapping[str, float] = field(default_factory=dict)  # its published list (core/bill)
    missing: tuple[str, ...] = ()  # the outputs asked that it does not hold

    def to_wire(self) -> Wire:
        return {
            **asdict(self),
            "labels": dict(self.labels),
            "held": list(self.held),
            "prices": dict(self.prices),
            "missing": list(self.missing),
        }

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> InventoryAnswer:
        return cls(
            bool(wire["healthy"]),
            dict(wire.get("labels", {})),
            int(wire.get("slots", 1)),
            tuple(wire.get("held", ())),
            str(wire.get("peer", "")),
            str(wire.get("error", "")),
            bool(wire.get("codsh", True)),
            {str(k): float(v) for k, v in dict(wire.get("prices", {})).items()},
            tuple(wire.get("missing", ())),
        )


@dataclass(frozen=True)
class ShardAnswer:
    """What a shard task returns. With `infrastructure_error`, `results` are the files finished
    before the failure: they are final, only the rest runs again."""

    node: str  # the Dask address of the worker that ran it
    results: tuple[FileResult, ...] = ()
    setup: Setup | None = None
    infrastructure_error: str | None = None
    usage: ShardUse | None = None  # what this run of the shard used (metering)

    def to_wire(self) -> Wire:
        return {
            "node": self.node,
            "results": [r.as_dict() for r in self.results],
            "setup": asdict(self.setup) if self.setup else None,
            "infrastructure_error": self.infrastructure_error,
            "usage": asdict(self.usage) if self.usage else None,
        }

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> ShardAnswer:
        setup, usage = wire.get("setup"), wire.get("usage")
        return cls(
            str(wire["node"]),
            tuple(FileResult.from_dict(r) for r in wire.get("results", ())),
            Setup(**setup) if setup else None,
            wire.get("infrastructure_error"),
            ShardUse(**usage) if usage else None,
        )


@dataclass(frozen=True)
class FileDone:
    """One file's result, sent by the node as soon as its output is stored (not at shard end)."""

    job: str
    attempt: int  # which submission of a shard (the reschedule policy's numbering)
    node: str
    result: FileResult
    # the Dask key of the shard task: the replicas of a job number their attempts alike, and
    # their messages share the client's topic, so only the key says whose this is
    task: str = ""

    def to_wire(self) -> Wire:
        return {
            "kind": FILE_DONE,
            "job": self.job,
            "attempt": self.attempt,
            "node": self.node,
            "result": self.result.as_dict(),
            "task": self.task,
        }

    @classmethod
    def from_wire(cls, wire: Any) -> FileDone | None:
        """The message, or None for an event on the same topic that is not one."""
        if not isinstance(wire, Mapping) or wire.get("kind") != FILE_DONE:
            return None
        result = FileResult.from_dict(dict(wire["result"]))
        job, attempt, node = str(wire["job"]), int(wire["attempt"]), str(wire["node"])
        return cls(job, attempt, node, result, str(wire.get("task", "")))


def files_done(messages: Sequence[Wire]) -> Wire:
    """Several FileDone messages (their wire forms) as one event (cluster/news.py)."""
    return {"kind": FILES_DONE, "files": list(messages)}


def news_of(wire: Any) -> list[FileDone]:
    """The FileDone messages of an event on the topic: one, several, or none (another event)."""
    if isinstance(wire, Mapping) and wire.get("kind") == FILES_DONE:
        return [done for item in wire["files"] if (done := FileDone.from_wire(item))]
    done = FileDone.from_wire(wire)
    return [done] if done is not None else []
