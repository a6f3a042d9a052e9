"""The orchestrator's work: run the jobs users submit through the job pipeline, one trio task
each, against the orchestrator's own kubo, and keep every running job's events for its
subscribers (the API's event streams)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import trio

from codsh.api.tokens import User
from codsh.core.model import FileResult
from codsh.core.spec import WASM, JobSpec
from codsh.errors import CodshError, InputError
from codsh.inputs import InputTree
from codsh.ipfs.client import KuboClient
from codsh.jobs.recorded import run_recorded
from codsh.jobs.store import INTERRUPTED, RUNNING, JobRecord, JobStore
from codsh.jobs.where import Where

log = logging.getLogger("codsh.serve")
FEED_BUFFER = 10_000  # events a slow subscriber may lag behind before it is dropped


class TooManyJobs(CodshError):
    """A user has as many jobs running as the orchestrator allows (HTTP 429)."""


@dataclass
class JobFeed:
    """One running job's events, for whoever streams them; counts so far for late subscribers."""

    files: int | None = None
    bytes: int = 0
    done: int = 0
    failed: int = 0
    reused: int = 0
    subscribers: list[trio.MemorySendChannel[dict[str, Any]]] = field(default_factory=list)
    ended: trio.Event = field(default_factory=trio.Event)

    def listed(self, tree: InputTree) -> None:
        self.files = len(tree.files)
        self.bytes = sum(f.size for f in tree.files)
        self._publish({"event": "listed", "files": self.files, "bytes": self.bytes})

    def file(self, result: FileResult) -> None:
        self.done += 1
        self.failed += 0 if result.ok else 1
        self.reused += 1 if result.reused else 0
        entry: dict[str, Any] = {"path": result.path, "outcome": str(result.outcome)}
        entry |= {"error": result.error, "output": result.output_cid, "node": result.node}
        entry |= {"reused": result.reused, "size": result.input_size}
        self._publish({"event": "file", **entry})

    def progress(self) -> dict[str, Any]:
        counts = {"files": self.files, "bytes": self.bytes, "done": self.done}
        return {"event": "progress", **counts, "failed": self.failed, "reused": self.reused}

    def subscribe(self) -> trio.MemoryReceiveChannel[dict[str, Any]]:
        send, receive = trio.open_memory_channel[dict[str, Any]](FEED_BUFFER)
        self.subscribers.append(send)
        return receive

    def finish(self, end: dict[str, Any]) -> None:
        self._publish(end)
        for send in self.subscribers:
            send.close()
        self.subscribers.clear()
        self.ended.set()

    def _publish(self, event: dict[str, Any]) -> None:
        for send in list(self.subscribers):
            try:
                send.send_nowait(event)
            except (trio.WouldBlock, trio.BrokenResourceError):  # too slow, or gone: drop it
                send.close()
                self.subscribers.remove(send)


class Orchestrator:
    """Runs submitted jobs where `where` says, `max_running` per user at once."""

    def __init__(self, store: JobStore, ipfs_api: str, where: Where, max_running: int = 8) -> None:
        self.store = store
        self.ipfs_api = ipfs_api
        self.where = where
        self.max_running = max_running
        self.feeds: dict[str, JobFeed] = {}
        self._scopes: dict[str, trio.CancelScope] = {}
        self._nursery: trio.Nursery | None = None

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve jobs until cancelled (then every running job is cancelled and recorded so)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    async def submit(self, spec: JobSpec, user: User, name: str | None = None) -> JobRecord:
        """Record job `spec` as `user`'s and start it; its image is pinned by ID here, as the
        CLI does (a name the orchestrator's engine lacks is an input error)."""
        if spec.kind != WASM and not spec.image_digest:
            digest = await trio.to_thread.run_sync(image_id, spec.image)
            spec = replace(spec, image_digest=digest)
        if self._nursery is None:
            raise CodshError("the orchestrator is not running", "start it with `codsh serve`")
        running = [r for r in self.store.recent(1000, owner=user.name) if r.state == RUNNING]
        if len(running) >= self.max_running:
            raise TooManyJobs(
                f"{user.name} has {len(running)} jobs running, the most this orchestrator allows",
                "wait for one to end (`codsh job wait ID`), or cancel one",
            )
        record = self.store.create(spec, self.where.runs_on, name, owner=user.name)
        feed = self.feeds[record.id] = JobFeed()
        scope = self._scopes[record.id] = trio.CancelScope()
        self._nursery.start_soon(self._run, record.id, spec, feed, scope)
        return record

    async def resume_interrupted(self, scan: int = 100_000) -> list[str]:
        """Resume the API jobs that an orchestrator which is gone left running (their records
        read "interrupted"): each is restarted here and runs like a new job (its event feed
        exists at once), with the files it recorded kept, not run again. Returns their IDs."""
        if self._nursery is None:
            raise CodshError("the orchestrator is not running", "start it with `codsh serve`")
        interrupted = [
            r
            for r in self.store.recent(scan)
            if r.state == INTERRUPTED and r.owner is not None and r.mode != "pipeline"
        ]
        for record in interrupted:
            if self.where.scheduler is None:  # the containers its killed run left here
                await trio.to_thread.run_sync(remove_job_containers, record.id)
            done = self.store.results(record.id)
            self.store.restart(record.id)
            spec = JobSpec.from_json(record.spec)
            feed = self.feeds[record.id] = JobFeed()
            scope = self._scopes[record.id] = trio.CancelScope()
            self._nursery.start_soon(self._run_resumed, record.id, spec, done, feed, scope)
            log.info("resuming job %s of %s: %d files done", record.id, record.owner, len(done))
        return [r.id for r in interrupted]

    async def _run_resumed(
        self,
        job_id: str,
        spec: JobSpec,
        done: Mapping[str, FileResult],
        feed: JobFeed,
        scope: trio.CancelScope,
    ) -> None:
        """`_run`, with the files done before (see the report: `_run` could take `done`)."""
        try:
            with scope:
                execution = self.where.execution(job_id)
                async with KuboClient(self.ipfs_api) as ipfs:
                    await run_recorded(self.store, job_id, spec, ipfs, execution, feed, done)
        except (CodshError, InputError) as exc:  # recorded by run_recorded; the server goes on
            log.info("job %s ended in error: %s", job_id, exc.message)
        except Exception:  # a bug: recorded, logged, and the other jobs go on
            log.exception("job %s crashed", job_id)
        finally:
            self._scopes.pop(job_id, None)
            self.feeds.pop(job_id, None)
            feed.finish({"event": "end", **end_of(self.store.get(job_id))})

    def cancel(self, job_id: str) -> bool:
        """Cancel running job `job_id`; False when it is not running here."""
        scope = self._scopes.get(job_id)
        if scope is None:
            return False
        scope.cancel()
        return True

    async def _run(
        self, job_id: str, spec: JobSpec, feed: JobFeed, scope: trio.CancelScope
    ) -> None:
        try:
            with scope:
                execution = self.where.execution(job_id)
                async with KuboClient(self.ipfs_api) as ipfs:
                    await run_recorded(self.store, job_id, spec, ipfs, execution, feed)
        except (CodshError, InputError) as exc:  # recorded by run_recorded; the server goes on
            log.info("job %s ended in error: %s", job_id, exc.message)
        except Exception:  # a bug: recorded, logged, and the other jobs go on
            log.exception("job %s crashed", job_id)
        finally:
            self._scopes.pop(job_id, None)
            self.feeds.pop(job_id, None)
            record = self.store.get(job_id)
            feed.finish({"event": "end", **end_of(record)})


def remove_job_containers(job_id: str) -> None:
    """Remove what a killed run of local job `job_id` left in Docker (best effort: without a
    Docker engine the job fails again, and says so)."""
    from codsh.executor.container import JOB_LABEL, docker_client, remove_leftovers

    try:
        remove_leftovers(docker_client(), JOB_LABEL, job_id)
    except CodshError as exc:
        log.warning("could not remove job %s's containers: %s", job_id, exc.message)


def image_id(name: str) -> str:
    from codsh import images
    from codsh.executor.container import docker_client

    return images.resolve(docker_client(), name)


def end_of(record: JobRecord) -> dict[str, Any]:
    """What a job's end says (also sent at once to a subscriber of a job that already ended)."""
    keys = ("state", "output", "manifest", "files", "failed", "reused", "seconds", "error")
    return {"job": record.id, **{key: getattr(record, key) for key in keys}}
