"""The SDK for trio and anyio code (asyncio too, through anyio): the same calls, awaited.

    async with await codsh.aio.connect() as client:
        job = await client.submit("grep rain", cid)
        print(await job.result())
        async for job in codsh.aio.as_completed(jobs): ...

Every call runs the blocking SDK in a worker thread (`anyio.to_thread`), so the event loop never
blocks; a cancelled wait returns at once (its thread is abandoned and ends with the job or its
timeout).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Self, TypeVar, Unpack, cast

import anyio
import anyio.to_thread

from codsh.client import sdk
from codsh.client.options import RunOptions, SubmitOptions
from codsh.client.sdk import ALL_COMPLETED, FIRST_COMPLETED, Failure, JobFailed
from codsh.client.waiting import DoneAndNotDone
from codsh.core.model import FileResult

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "AsyncClient",
    "AsyncJob",
    "Failure",
    "JobFailed",
    "as_completed",
    "connect",
    "wait",
]
T = TypeVar("T")
_END = object()


async def _thread(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn, abandon_on_cancel=True)


async def connect(
    api: str | None = None,
    token: str | None = None,
    *,
    ipfs: str | None = None,
    ca: str | None = None,
) -> AsyncClient:
    """As `codsh.connect`."""
    return AsyncClient(await _thread(partial(sdk.connect, api, token, ipfs=ipfs, ca=ca)))


class AsyncClient:
    def __init__(self, client: sdk.Client) -> None:
        self.sync = client

    @property
    def where(self) -> str:
        return self.sync.where

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def submit(
        self, what: str | Callable[..., Any], cid: str | AsyncJob, **options: Unpack[SubmitOptions]
    ) -> AsyncJob:
        """As `Client.submit`; a job given as `cid` is waited for without blocking the loop."""
        source = await cid.result() if isinstance(cid, AsyncJob) else cid
        return AsyncJob(await _thread(partial(self.sync.submit, what, source, **options)))

    async def pipe(
        self,
        stages: Sequence[str],
        cid: str | AsyncJob,
        *,
        fuse: bool = True,
        **options: Unpack[RunOptions],
    ) -> AsyncJob:
        """As `Client.pipe`."""
        source = await cid.result() if isinstance(cid, AsyncJob) else cid
        call = partial(self.sync.pipe, stages, source, fuse=fuse, **options)
        return AsyncJob(await _thread(call))

    async def job(self, job_id: str) -> AsyncJob:
        return AsyncJob(await _thread(partial(self.sync.job, job_id)))

    async def jobs(self, limit: int = 50, name: str | None = None) -> list[AsyncJob]:
        return [AsyncJob(job) for job in await _thread(partial(self.sync.jobs, limit, name))]

    async def add(self, path: str | Path) -> str:
        return await _thread(partial(self.sync.add, path))

    async def cat(self, cid: str) -> bytes:
        return await _thread(partial(self.sync.cat, cid))


class AsyncJob:
    def __init__(self, job: sdk.Job) -> None:
        self.sync = job
        self.id = job.id

    def __repr__(self) -> str:
        return f"<codsh.aio.AsyncJob {self.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AsyncJob) and other.sync == self.sync

    def __hash__(self) -> int:
        return hash(self.sync)

    async def result(self, timeout: float | None = None) -> str:
        return await _thread(partial(self.sync.result, timeout))

    async def record(self) -> dict[str, Any]:
        return await _thread(self.sync.record)

    async def status(self) -> str:
        return await _thread(self.sync.status)

    async def done(self) -> bool:
        return await _thread(self.sync.done)

    async def files(self, timeout: float | None = None) -> list[FileResult]:
        return await _thread(partial(self.sync.files, timeout))

    async def cancel(self) -> bool:
        return await _thread(self.sync.cancel)

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        async for event in _iterate(self.sync.events()):
            yield event


async def _iterate(items: Iterator[T]) -> AsyncIterator[T]:
    """A blocking iterator, each step in a worker thread."""
    while True:
        item = await _thread(partial(next, items, _END))
        if item is _END:
            return
        yield cast(T, item)


async def as_completed(
    jobs: Iterable[AsyncJob], timeout: float | None = None
) -> AsyncIterator[AsyncJob]:
    """Each of `jobs` as it ends (TimeoutError after `timeout` seconds)."""
    by_sync = {job.sync: job for job in jobs}
    async for job in _iterate(sdk.as_completed(by_sync, timeout)):
        yield by_sync[job]


async def wait(
    jobs: Iterable[AsyncJob], timeout: float | None = None, return_when: str = ALL_COMPLETED
) -> tuple[set[AsyncJob], set[AsyncJob]]:
    """As `codsh.wait`: the ended jobs and the others."""
    by_sync = {job.sync: job for job in jobs}
    found: DoneAndNotDone = await _thread(partial(sdk.wait, by_sync, timeout, return_when))
    return {by_sync[j] for j in found.done}, {by_sync[j] for j in found.not_done}
