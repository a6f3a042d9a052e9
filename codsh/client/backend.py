"""What the SDK asks of where its jobs run: the orchestrator's API (remote.py) or this process
(local.py). Both speak in the API's terms (job records as JSON dicts, events as the event stream
sends them), so a Job behaves the same whichever runs it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from codsh.core.spec import JobSpec
    from codsh.images.python import PipTarget

END_KEYS = ("state", "output", "manifest", "files", "failed", "reused", "seconds", "error")


class Backend(Protocol):
    """Where jobs run and data lives. `deadline`s are `time.monotonic()` values (None: none)."""

    where: str  # what the client runs on: the orchestrator's URL, or "this machine"

    def submit(self, spec: JobSpec, name: str | None) -> dict[str, Any]:
        """Start job `spec`; its record."""

    def pipe(
        self, first: JobSpec, stages: list[str], fuse: bool, name: str | None
    ) -> dict[str, Any]:
        """Start a pipeline of `stages` over `first.input`, with `first`'s image and options."""

    def record(self, job_id: str) -> dict[str, Any]:
        """A job's record (an ID prefix or a job name is enough), with `failures` so far."""

    def records(self, limit: int, name: str | None) -> list[dict[str, Any]]:
        """The latest jobs' records, newest first (without failures)."""

    def wait(self, job_id: str, deadline: float | None) -> dict[str, Any] | None:
        """The job's record once it has ended; None at `deadline`."""

    def events(self, job_id: str) -> Iterator[dict[str, Any]]:
        """The job's events to its end (the last one is `end`)."""

    def cancel(self, job_id: str) -> bool:
        """Stop a running job and wait for its end; False when it was not running."""

    def add(self, path: Path) -> str:
        """Add a file or folder with codsh's canonical options; its CID."""

    def read(self, path: str, limit: int | None = None) -> bytes:
        """The bytes of file CID[/path] (an InputError past `limit` bytes)."""

    def image_digest(self, image: str) -> str:
        """The ID a job pins `image` by ("": the orchestrator resolves it)."""

    def resolve(self, text: str) -> str:
        """The CID[/path] a name (a job's --name) or an /ipns/ path points at now."""

    def pip_target(self, image: str, for_requirements: bool) -> PipTarget:
        """The wheel tags of the nodes' interpreter in `image`."""


@dataclass(frozen=True)
class Failure:
    """One file that failed: its path, what happened (`outcome`), the message and stderr's excerpt."""

    path: str
    outcome: str
    error: str
    stderr: str = ""
    node: str = ""

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> Failure:
        return cls(
            path=str(entry.get("path", "")),
            outcome=str(entry.get("outcome", "")),
            error=str(entry.get("error") or ""),
            stderr=str(entry.get("stderr") or ""),
            node=str(entry.get("node") or ""),
        )


def end_event(record: dict[str, Any]) -> dict[str, Any]:
    """The `end` event of a job whose record is `record` (what the event stream says last)."""
    return {"event": "end", "job": record["id"], **{key: record.get(key) for key in END_KEYS}}
