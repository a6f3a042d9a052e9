"""Waiting on many jobs: `as_completed(jobs)` yields each job as it ends, `wait(jobs)` returns the
ended and the running ones (the shapes of Dask's and concurrent.futures'). Each job is watched by
a thread of its own that follows its end (the event stream through the API, the job's own end
in-process), so a job is yielded the moment it ends, whatever order they end in."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from codsh.client.sdk import Job

ALL_COMPLETED = "ALL_COMPLETED"
FIRST_COMPLETED = "FIRST_COMPLETED"


class DoneAndNotDone(NamedTuple):
    done: set[Job]
    not_done: set[Job]


def as_completed(jobs: Iterable[Job], timeout: float | None = None) -> Iterator[Job]:
    """Each of `jobs` as it ends (succeeded or not: call its `result()`); TimeoutError when some
    are still running after `timeout` seconds."""
    pending = list(dict.fromkeys(jobs))
    deadline = None if timeout is None else time.monotonic() + timeout
    ended: queue.Queue[tuple[Job, BaseException | None]] = queue.Queue()

    def watch(job: Job) -> None:
        try:
            record = job._wait(deadline)
            ended.put((job, None if record is not None else TimeoutError()))
        except BaseException as exc:  # handed to the caller's thread
            ended.put((job, exc))

    for job in pending:
        threading.Thread(
            target=watch, args=(job,), name=f"codsh-wait-{job.id}", daemon=True
        ).start()
    for count in range(len(pending)):
        try:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic()) + 1
            job, problem = ended.get(timeout=remaining)
        except queue.Empty:
            problem = TimeoutError()
        if isinstance(problem, TimeoutError):
            raise TimeoutError(
                f"{len(pending) - count} of {len(pending)} jobs still running after {timeout:g}s"
            )
        if problem is not None:
            raise problem
        yield job


def wait(
    jobs: Iterable[Job], timeout: float | None = None, return_when: str = ALL_COMPLETED
) -> DoneAndNotDone:
    """Wait until all of `jobs` have ended (or the first one, with FIRST_COMPLETED), at most
    `timeout` seconds; the ended ones and the others."""
    if return_when not in (ALL_COMPLETED, FIRST_COMPLETED):
        raise ValueError(f"return_when must be {ALL_COMPLETED} or {FIRST_COMPLETED}")
    pending = set(jobs)
    done: set[Job] = set()
    try:
        for job in as_completed(pending, timeout):
            done.add(job)
            if return_when == FIRST_COMPLETED:
                break
    except TimeoutError:
        pass
    return DoneAndNotDone(done, pending - done)
