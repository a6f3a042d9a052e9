"""The SDK in-process: jobs run here, on this machine's kubo and Docker, recorded in the local job
store as `codsh run` records them (`codsh job list` shows them, the memo is the CLI's).

One trio loop in a background thread (the runtime, shared by every in-process client of this
process) runs the jobs, so `submit` returns at once and jobs run side by side, as on the
orchestrator. Python exiting cancels the jobs still running (recorded as cancelled, containers
removed), as Ctrl-C does to `codsh run`.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple

import trio

from codsh.api.service import JobFeed
from codsh.client.backend import end_event
from codsh.config import jobs_db
from codsh.core.manifest import excerpt
from codsh.errors import CodshError, InputError
from codsh.ipfs.client import AddOptions, KuboClient, KuboError
from codsh.jobs.recorded import run_recorded
from codsh.jobs.states import RUNNING
from codsh.jobs.store import JobStore
from codsh.jobs.where import Where

if TYPE_CHECKING:
    import docker

    from codsh.core.spec import JobSpec
    from codsh.images.python import PipTarget
    from codsh.jobs.execution import Execution

T = TypeVar("T")
Ts = TypeVarTuple("Ts")
log = logging.getLogger("codsh.sdk")
POLL = 0.2  # seconds between looks at a job another process runs
CANCEL_WAIT = 30.0  # seconds a cancel waits for the job to record its end
Channel = trio.MemoryReceiveChannel[dict[str, Any]]
Work = Callable[[KuboClient, JobFeed], Awaitable[None]]  # what a job does, given kubo and its feed
RUNS_ON = "this node"  # what the job store records for a job run here (as `codsh run` does)


class Runtime:
    """A trio loop in a daemon thread, and the jobs it runs (their feeds and cancel scopes)."""

    def __init__(self) -> None:
        self.store = JobStore(jobs_db())
        self.feeds: dict[str, JobFeed] = {}
        self.scopes: dict[str, trio.CancelScope] = {}
        self._ready = threading.Event()
        self._nursery: trio.Nursery | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._thread = threading.Thread(target=self._main, name="codsh-sdk", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._token is None:
            raise CodshError("the SDK's event loop did not start", "see the traceback above")
        atexit.register(self.close)

    def _main(self) -> None:
        try:
            trio.run(self._serve)
        finally:
            self._ready.set()  # also when it could not start

    async def _serve(self) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._token = trio.lowlevel.current_trio_token()
            self._ready.set()
            await trio.sleep_forever()

    def call(self, fn: Callable[[*Ts], Awaitable[T]], *args: *Ts) -> T:
        """Run `fn(*args)` in the loop; its result (from any thread but the loop's)."""
        return trio.from_thread.run(fn, *args, trio_token=self._token)

    def call_sync(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    def launch(self, job_id: str, work: Work, ipfs_api: str, engine: docker.DockerClient) -> None:
        """Start recorded job `job_id` doing `work` (in the loop: its feed exists on return)."""
        assert self._nursery is not None
        feed = self.feeds[job_id] = JobFeed()
        scope = self.scopes[job_id] = trio.CancelScope()
        self._nursery.start_soon(self._run, job_id, work, ipfs_api, engine, feed, scope)

    async def _run(
        self,
        job_id: str,
        work: Work,
        ipfs_api: str,
        engine: docker.DockerClient,
        feed: JobFeed,
        scope: trio.CancelScope,
    ) -> None:
        why = "ended without a result"
        try:
            with scope:
                async with KuboClient(ipfs_api) as ipfs:
                    await work(ipfs, feed)
        except CodshError as exc:  # recorded by run_recorded
            why = exc.message
            log.info("job %s ended in error: %s", job_id, why)
        except Exception as exc:  # a bug: recorded by run_recorded; the other jobs go on
            log.exception("job %s crashed", job_id)
            why = str(exc) or type(exc).__name__
        finally:
            if self.store.get(job_id).state == RUNNING:  # whatever happened, it has ended
                self.store.fail(job_id, why)
            engine.close()
            self.scopes.pop(job_id, None)
            self.feeds.pop(job_id, None)
            feed.finish(end_event(public(self.store, job_id)))

    def close(self) -> None:
        """Cancel the running jobs, let them record it, and stop the loop."""
        if self._thread.is_alive() and self._nursery is not None:
            self.call_sync(self._nursery.cancel_scope.cancel)
            self._thread.join(CANCEL_WAIT)


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    """This process's runtime, started on first use."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime()
        return _runtime


def public(store: JobStore, job_id: str, failures: bool = False) -> dict[str, Any]:
    """A job's record as the API shows it (without the driver's pid; with its failures)."""
    record = store.get(job_id)
    fields = record.as_dict()
    fields.pop("pid", None)
    if failures:
        results = store.results(record.id)
        fields["files_recorded"] = len(results)
        fields["failures"] = [
            {"path": r.path, "node": r.node, "outcome": str(r.outcome), "error": r.error}
            | {"stderr": excerpt(r.stderr, 800)}
            for r in results.values()
            if not r.ok
        ]
    return fields


class Local:
    """A Backend here: the kubo at `ipfs_api`, the local Docker engine, the local job store."""

    where = "this machine"

    def __init__(self, ipfs_api: str) -> None:
        self.ipfs_api = ipfs_api
        self.runtime = runtime()
        self.store = self.runtime.store

    def submit(self, spec: JobSpec, name: str | None) -> dict[str, Any]:
        from codsh.executor.container import docker_client

        engine = docker_client()  # one per job, as the orchestrator does
        record = self.store.create(Where(None).admits(spec), RUNS_ON, name)

        async def work(ipfs: KuboClient, feed: JobFeed) -> None:
            from codsh.names import publish_job

            execution = Where(None).execution(record.id, engine)
            await run_recorded(self.store, record.id, spec, ipfs, execution, feed)
            await publish_job(ipfs, self.store, record.id)  # a named job's name, as the CLI does

        self.runtime.call_sync(self.runtime.launch, record.id, work, self.ipfs_api, engine)
        return public(self.store, record.id)

    def pipe(
        self, first: JobSpec, stages: list[str], fuse: bool, name: str | None
    ) -> dict[str, Any]:
        from codsh.executor.container import docker_client
        from codsh.jobs.pipeline import new_pipeline, run_pipeline

        engine = docker_client()
        record, steps = new_pipeline(
            self.store, stages, Where(None).admits(first), fuse, RUNS_ON, name
        )

        async def work(ipfs: KuboClient, feed: JobFeed) -> None:
            def execution(job_id: str) -> Execution:
                return Where(None).execution(job_id, engine)

            await run_pipeline(self.store, record.id, steps, first, ipfs, execution, feed, RUNS_ON)

        self.runtime.call_sync(self.runtime.launch, record.id, work, self.ipfs_api, engine)
        return public(self.store, record.id)

    def record(self, job_id: str) -> dict[str, Any]:
        return public(self.store, job_id, failures=True)

    def records(self, limit: int, name: str | None) -> list[dict[str, Any]]:
        return [public(self.store, r.id) for r in self.store.recent(limit, name)]

    def wait(self, job_id: str, deadline: float | None) -> dict[str, Any] | None:
        job_id = self.store.get(job_id).id
        feed = self.runtime.call_sync(self.runtime.feeds.get, job_id)
        if feed is not None:
            self.runtime.call(_until, feed.ended, math.inf if deadline is None else deadline)
        while True:  # ended, or run by another process (`codsh run --detach`): its record says
            record = self.record(job_id)
            if record["state"] != RUNNING:
                return record
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(POLL)

    def events(self, job_id: str) -> Iterator[dict[str, Any]]:
        job_id = self.store.get(job_id).id
        subscribed = self.runtime.call_sync(self._subscribe, job_id)
        if subscribed is not None:
            progress, receive = subscribed
            yield progress
            try:
                while True:
                    try:
                        event = self.runtime.call(receive.receive)
                    except (trio.EndOfChannel, trio.ClosedResourceError):
                        break
                    yield event
                    if event.get("event") == "end":
                        return
            finally:
                self.runtime.call_sync(receive.close)
        record = self.wait(job_id, None)  # dropped as too slow, or never ran here
        assert record is not None
        yield end_event(record)

    def _subscribe(self, job_id: str) -> tuple[dict[str, Any], Channel] | None:
        """In the loop: the counts so far, and a channel of the job's events from now on."""
        feed = self.runtime.feeds.get(job_id)
        return None if feed is None else (feed.progress(), feed.subscribe())

    def cancel(self, job_id: str) -> bool:
        record = self.store.get(job_id)
        if record.state != RUNNING:
            return False
        scope = self.runtime.call_sync(self.runtime.scopes.get, record.id)
        if scope is not None:
            self.runtime.call_sync(scope.cancel)
        elif record.pid != os.getpid():
            os.kill(record.pid, signal.SIGINT)  # its driver cleans up as on Ctrl-C
        else:
            return False
        self.wait(record.id, time.monotonic() + CANCEL_WAIT)
        return True

    def add(self, path: Path) -> str:
        return self.runtime.call(self._add, path)

    async def _add(self, path: Path) -> str:
        async with KuboClient(self.ipfs_api) as ipfs:
            added = await ipfs.add_paths([path], AddOptions())
        return next(a.cid for a in added if a.name == path.name)

    def read(self, path: str, limit: int | None = None) -> bytes:
        return self.runtime.call(self._read, path, limit)

    async def _read(self, path: str, limit: int | None) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async with KuboClient(self.ipfs_api) as ipfs:
            try:
                async for chunk in ipfs.cat(path):
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise InputError(f"{path} is larger than {limit} bytes")
                    chunks.append(chunk)
            except KuboError as exc:
                raise InputError(f"cannot read {path}: {exc.kubo_message}") from None
        return b"".join(chunks)

    def resolve(self, text: str) -> str:
        return self.runtime.call(self._resolve, text)

    async def _resolve(self, text: str) -> str:
        from codsh.names import NameStore, resolve

        async with KuboClient(self.ipfs_api) as ipfs:
            with NameStore() as names:
                return await resolve(ipfs, names, text)

    def image_digest(self, image: str) -> str:
        from codsh import images
        from codsh.executor.container import docker_client

        return images.resolve(docker_client(), image)

    def pip_target(self, image: str, for_requirements: bool) -> PipTarget:
        from codsh.executor.container import docker_client
        from codsh.images.python import pip_target

        return pip_target(docker_client(), image)


async def _until(event: trio.Event, deadline: float) -> None:
    """Wait for `event`, at most until `deadline` (a time.monotonic() value)."""
    with trio.move_on_at(trio.current_time() + (deadline - time.monotonic())):
        await event.wait()
