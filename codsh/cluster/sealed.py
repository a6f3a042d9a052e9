"""The node's side of commit before reveal (core/commit.py): seal each file's answer of a
replicated job as it is reported, keep the openings, and give them to the driver when it asks.

The openings live in the node's memory only until asked (or the job is stopped): a node that
restarts before the driver asks loses them, and its runs of those files count as lost, not as lies.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Sequence
from typing import Any

from codsh.core.commit import Opening, seal
from codsh.core.model import FileResult

MAX_JOBS = 64  # jobs whose openings a node keeps at once (the oldest goes first)


class Openings:
    """Per job: commitment -> opening, shared by the node's shard threads and its event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, dict[str, Opening]] = {}

    def sealer(self, job: str, node: str) -> Callable[[FileResult], FileResult]:
        """Seals a result once (the per-file message and the shard's answer are the same run)."""
        done: dict[tuple[str, str, int | None, str | None], FileResult] = {}

        def sealed(result: FileResult) -> FileResult:
            if result.commitment is not None:  # sealed already (or a copy a cheat sends: the
                return result  # driver catches that, the node's own code cannot be trusted to)
            answer = (result.path, str(result.outcome), result.exit_code, result.output_cid)
            if answer not in done:
                out, opening = seal(result, job, node, secrets.token_hex(16))
                with self._lock:
                    if job not in self._jobs and len(self._jobs) >= MAX_JOBS:
                        del self._jobs[next(iter(self._jobs))]  # a driver gone without asking
                    self._jobs.setdefault(job, {})[out.commitment or ""] = opening
                done[answer] = out
            return done[answer]

        return sealed

    def take(self, job: str, commitments: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The openings asked for that this node has (each given once)."""
        with self._lock:
            kept = self._jobs.get(job, {})
            found = {c: kept.pop(c).as_dict() for c in commitments if c in kept}
            if not kept:
                self._jobs.pop(job, None)
            return found

    def forget(self, job: str) -> None:
        with self._lock:
            self._jobs.pop(job, None)
