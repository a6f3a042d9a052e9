"""The orchestrator's work: run the jobs users submit through the job pipeline, one trio task
each, against the orchestrator's own kubo, and keep every running job's events for its
subscribers (the API's event streams)."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import trio

from codsh.api.limits import DEFAULT_MAX_FILES, OverLimit, check_running, list_within
from codsh.api.tokens import User
from codsh.core.folders import KeptFolder
from codsh.core.manifest import excerpt
from codsh.core.model import FileResult
from codsh.core.oci import content_cid
from codsh.core.pipeline import Step
from codsh.core.spec import WASM, JobSpec
from codsh.errors import CodshError, InputError
from codsh.images.content import image_digest
from codsh.inputs import InputTree
from codsh.ipfs.client import KuboClient
from codsh.jobs.finish import JobResult
from codsh.jobs.pipeline import describe, new_pipeline, run_pipeline
from codsh.jobs.recorded import run_recorded
from codsh.jobs.resumable import kept_results
from codsh.jobs.run import folder_lookup
from codsh.jobs.states import INTERRUPTED
from codsh.jobs.store import JobRecord, JobStore
from codsh.jobs.where import Where
from codsh.names import NameStore, check_name, check_owner, publish_job

if TYPE_CHECKING:
    from codsh.cluster.execution import SharedClient
    from codsh.executor.warm import WarmPool
    from codsh.jobs.execution import Execution

log = logging.getLogger("codsh.serve")
Work = Callable[
    [KuboClient, "JobFeed"], Awaitable[None]
]  # what a job does, given kubo and its feed
FEED_BUFFER = 10_000  # events a slow subscriber may lag behind before it is dropped


@dataclass
class JobFeed:
    """One running job's events, for whoever streams them; counts so far for late subscribers.

    A file reused from the memo that succeeded is counted, not streamed: a nightly rerun reuses
    10,000s at once, which as one event each outran the subscribers' buffers (and cost the
    orchestrator ~0.1 ms a file). Their counts go out as one `progress` event before the next
    other event (a file that ran, a failure, the end)."""

    files: int | None = None
    bytes: int = 0
    done: int = 0
    done_bytes: int = 0
    failed: int = 0
    reused: int = 0
    nodes: dict[str, list[int]] = field(default_factory=dict)  # node ("" here) -> [done, failed]
    subscribers: list[trio.MemorySendChannel[dict[str, Any]]] = field(default_factory=list)
    ended: trio.Event = field(default_factory=trio.Event)
    counted_only: int = 0  # reused files counted since the last event that was sent

    def listed(self, tree: InputTree) -> None:
        self.files = tree.file_count
        self.bytes = tree.byte_count
        self._publish({"event": "listed", "files": self.files, "bytes": self.bytes})

    def file(self, result: FileResult) -> None:
        coalesced = result.reused and result.ok
        if not coalesced:  # the counts before it go first: a page adds this one to them
            self._flush()
        self.done += 1
        self.done_bytes += result.input_size
        self.failed += 0 if result.ok else 1
        self.reused += 1 if result.reused else 0
        counts = self.nodes.setdefault(result.node, [0, 0])
        counts[0] += 1
        counts[1] += 0 if result.ok else 1
        if coalesced:
            self.counted_only += 1
            return
        entry: dict[str, Any] = {"path": result.path, "outcome": str(result.outcome)}
        entry |= {"error": result.error, "output": result.output_cid, "node": result.node}
        entry |= {"reused": result.reused, "size": result.input_size}
        if not result.ok:  # as GET /v1/jobs/ID gives it, so a page shows it at once
            entry["stderr"] = excerpt(result.stderr, 800)
        self._publish({"event": "file", **entry})

    def folder(self, kept: KeptFolder) -> None:
        """Counted, as reused files are; the counts go out before what follows."""
        self.done += kept.files
        self.done_bytes += kept.bytes_in
        self.reused += kept.files
        self.counted_only += kept.files

    def stage(self, number: int, total: int, step: Step) -> None:
        self._publish({"event": "stage", "stage": number, "of": total, "command": describe(step)})

    def staged(self, result: JobResult, job_id: str) -> None:
        self._publish({"event": "staged", "job": job_id, **result.counts()})

    def progress(self) -> dict[str, Any]:
        counts: dict[str, Any] = {"files": self.files, "bytes": self.bytes, "done": self.done}
        counts |= {"done_bytes": self.done_bytes, "failed": self.failed, "reused": self.reused}
        counts["nodes"] = {node: list(c) for node, c in self.nodes.items()}
        return {"event": "progress", **counts}

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

    def _flush(self) -> None:
        """The reused files counted so far, sent as counts before what follows them."""
        if self.counted_only:
            self.counted_only = 0
            self._publish(self.progress())

    def _publish(self, event: dict[str, Any]) -> None:
        self._flush()
        for send in list(self.subscribers):
            try:
                send.send_nowait(event)
            except (trio.WouldBlock, trio.BrokenResourceError):  # too slow, or gone: drop it
                send.close()
                self.subscribers.remove(send)


class Orchestrator:
    """Runs submitted jobs where `where` says, `max_running` per user at once and at most
    `max_files` files per job (unless a user's token says otherwise: api/limits.py)."""

    def __init__(
        self,
        store: JobStore,
        ipfs_api: str,
        where: Where,
        max_running: int = 8,
        max_files: int = DEFAULT_MAX_FILES,
        warm: int | None = None,
    ) -> None:
        self.store = store
        self.warm = (os.cpu_count() or 1) if warm is None else warm  # started containers kept
        self.ipfs_api = ipfs_api
        self.where = where
        self.max_running = max_running
        self.max_files = max_files
        self.feeds: dict[str, JobFeed] = {}
        self._scopes: dict[str, trio.CancelScope] = {}
        self._owners: dict[str, str] = {}  # running job (never a pipeline's stage) -> its user
        self._nursery: trio.Nursery | None = None
        self.pool: WarmPool | None = None  # started containers for jobs run here (warm.py)
        self.shared: SharedClient | None = None  # the client to the cluster, kept between jobs

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve jobs until cancelled (then every running job is cancelled and recorded so)."""
        if self.warm and not self.where.scheduler:
            self.pool = await trio.to_thread.run_sync(warm_pool, self.warm)
        if self.where.scheduler and self.where.tls:
            from codsh.cluster.execution import SharedClient  # Dask: only for a cluster

            self.shared = SharedClient(self.where.scheduler, self.where.tls)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started()
                await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                if self.pool is not None:
                    await trio.to_thread.run_sync(self.pool.close)
                if self.shared is not None:
                    await trio.to_thread.run_sync(self.shared.close)

    def execution(self, job_id: str, suspects: frozenset[str] = frozenset()) -> Execution:
        return self.where.execution(job_id, suspects=suspects, pool=self.pool, shared=self.shared)

    async def submit(self, spec: JobSpec, user: User, name: str | None = None) -> JobRecord:
        """Record job `spec` as `user`'s and start it; its image is pinned by ID here, as the
        CLI does (a name the orchestrator's engine lacks is an input error). Its input is listed
        first: past the user's limits nothing is recorded (TooManyFiles, TooManyJobs)."""
        spec = await self._pinned(self.where.admits(spec))
        self._check_room(user)
        _check_name(name, user)
        try:
            listed: InputTree | CodshError = await self._listed(spec, user)
        except OverLimit:
            raise
        except CodshError as exc:  # an input not found: a job that fails, as it does here
            listed = exc
        self._check_room(user)  # again: their other submits may have started while it listed
        record = self.store.create(spec, self.where.runs_on, name, owner=user.name)
        if isinstance(listed, CodshError):
            self._start(record.id, user.name, self._failed(record.id, listed))
        else:
            self._start(record.id, user.name, self._job(record.id, spec, tree=listed))
        return record

    async def submit_pipeline(
        self, first: JobSpec, stages: list[str], fuse: bool, user: User, name: str | None
    ) -> JobRecord:
        """Record `stages` over `first.input` as `user`'s pipeline and start it (core/pipeline
        decides the steps: a bad stage is an input error before anything is recorded)."""
        first = await self._pinned(self.where.admits(first))
        self._check_room(user)
        _check_name(name, user)
        try:
            await self._listed(first, user)  # its later stages have as many files, or one
        except OverLimit:
            raise
        except CodshError:  # an input not found: the pipeline fails on it, and records that
            pass
        self._check_room(user)
        runs_on = self.where.runs_on
        record, steps = new_pipeline(self.store, stages, first, fuse, runs_on, name, user.name)

        async def work(ipfs: KuboClient, feed: JobFeed) -> None:
            await run_pipeline(
                self.store, record.id, steps, first, ipfs, self.execution, feed, runs_on, user.name
            )

        self._start(record.id, user.name, work)
        return record

    async def _listed(self, spec: JobSpec, user: User) -> InputTree:
        """The input of `spec`, listed here (a TooManyFiles past the user's files per job)."""
        async with KuboClient(self.ipfs_api) as ipfs:
            timeout = spec.target.find_timeout
            lookup = folder_lookup(spec, self.store) if spec.target.memo else None
            return await list_within(ipfs, spec.input, timeout, user, self.max_files, lookup)

    def _failed(self, job_id: str, error: CodshError) -> Work:
        """A job whose input could not be listed: recorded with that error, as run_recorded
        records a listing that fails (the listing is not tried a second time)."""

        async def work(ipfs: KuboClient, feed: JobFeed) -> None:
            self.store.fail(job_id, str(error))
            raise error

        return work

    def _job(
        self,
        job_id: str,
        spec: JobSpec,
        done: Mapping[str, FileResult] | None = None,
        tree: InputTree | None = None,
    ) -> Work:
        async def work(ipfs: KuboClient, feed: JobFeed) -> None:
            suspects = frozenset[str]()
            if spec.verify:
                suspects = await trio.to_thread.run_sync(self.store.outvoted_nodes)
            execution = self.execution(job_id, suspects)
            if spec.target.max_price is not None and done is None:  # quoted first, as here
                await self._quote(job_id, spec, ipfs, suspects, tree)
            await run_recorded(self.store, job_id, spec, ipfs, execution, feed, done, tree)

        return work

    async def _quote(
        self,
        job_id: str,
        spec: JobSpec,
        ipfs: KuboClient,
        suspects: frozenset[str],
        tree: InputTree | None,
    ) -> None:
        """`target.max_price`: run the quote's sample (a job of the same owner); a quote over
        it fails the job before it runs, saying the quote (jobs/quote.py)."""
        from codsh.jobs.quote import over_limit, quote_job

        limit = spec.target.max_price
        assert limit is not None
        quoted, sample = await quote_job(
            self.store,
            spec,
            ipfs,
            lambda job: self.execution(job, suspects),
            self.where.runs_on,
            tree,
            self._owners.get(job_id),
        )
        refused = over_limit(quoted, limit, sample)
        if refused is not None:
            self.store.fail(job_id, str(refused))
            raise refused

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
            done = kept_results(self.store, record.id)
            self.store.restart(record.id)
            spec = JobSpec.from_json(record.spec)
            self._start(record.id, record.owner or "", self._job(record.id, spec, done))
            log.info("resuming job %s of %s: %d files done", record.id, record.owner, len(done))
        return [r.id for r in interrupted]

    async def resume(self, job_id: str, user: User) -> JobRecord:
        """Run stopped job `job_id` again here as it was recorded, with the files it recorded kept,
        not run again (`codsh job resume`): an InputError for a running job, a succeeded one or a
        pipeline. Its event feed exists at once."""
        from codsh.jobs.resumable import check_resumable

        record = self.store.get(job_id)
        check_resumable(record, "on the orchestrator")
        self._check_room(user)
        done = kept_results(self.store, record.id)
        spec = JobSpec.from_json(record.spec)
        record = self.store.restart(record.id)  # running: a second resume is refused (409)
        if self.where.scheduler is None:  # containers a killed run left here
            await trio.to_thread.run_sync(remove_job_containers, record.id)
        self._start(record.id, record.owner or user.name, self._job(record.id, spec, done))
        log.info("resuming job %s for %s: %d files done", record.id, user.name, len(done))
        return record

    async def _pinned(self, spec: JobSpec) -> JobSpec:
        """`spec` with its image by ID (resolved here, in the orchestrator's engine)."""
        if spec.kind == WASM or spec.image_digest:
            return spec
        try:
            cid = content_cid(spec.image)
        except ValueError as exc:
            raise InputError(str(exc), "e.g. ipfs://bafy... (`codsh images push NAME`)") from None
        async with KuboClient(self.ipfs_api) as ipfs:
            if cid is not None:
                return replace(spec, image_digest=await image_digest(ipfs, cid), image_cid=cid)
            digest = await trio.to_thread.run_sync(image_id, spec.image)
            if self.where.scheduler:  # nodes with engines of their own load it by content
                cid = await by_content(ipfs, digest)
            return replace(spec, image_digest=digest, image_cid=cid or "")

    def _check_room(self, user: User) -> None:
        """A TooManyJobs when `user` runs as many jobs here as they may (a pipeline is one)."""
        if self._nursery is None:
            raise CodshError("the orchestrator is not running", "start it with `codsh serve`")
        running = sum(owner == user.name for owner in self._owners.values())
        check_running(user, running, self.max_running)

    def cancel(self, job_id: str) -> bool:
        """Cancel running job `job_id`; False when it is not running here."""
        scope = self._scopes.get(job_id)
        if scope is None:
            return False
        scope.cancel()
        return True

    def _start(self, job_id: str, owner: str, work: Work) -> None:
        """Run `work` for `owner`'s job `job_id` in the background, with a feed for its event
        streams."""
        assert self._nursery is not None
        self._owners[job_id] = owner
        feed = self.feeds[job_id] = JobFeed()
        scope = self._scopes[job_id] = trio.CancelScope()
        self._nursery.start_soon(self._run, job_id, work, feed, scope)

    async def _run(self, job_id: str, work: Work, feed: JobFeed, scope: trio.CancelScope) -> None:
        try:
            with scope:
                async with KuboClient(self.ipfs_api) as ipfs:
                    try:
                        await work(ipfs, feed)
                    finally:  # a named job's name moves to its output when it is complete
                        with trio.CancelScope(shield=True):
                            said = await publish_job(ipfs, self.store, job_id)
                        if said:
                            log.info("job %s: %s", job_id, said)
        except CodshError as exc:  # recorded by run_recorded; the server goes on
            log.info("job %s ended in error: %s", job_id, exc.message)
        except Exception:  # a bug: recorded, logged, and the other jobs go on
            log.exception("job %s crashed", job_id)
        finally:
            self._scopes.pop(job_id, None)
            self._owners.pop(job_id, None)
            self.feeds.pop(job_id, None)
            feed.finish({"event": "end", **end_of(self.store.get(job_id))})


def _check_name(name: str | None, user: User) -> None:
    """A job's --name is a valid name, and not another user's (its IPNS key is shared here)."""
    with NameStore() as names:
        check_owner(names, check_name(name), user.name)


def warm_pool(depth: int) -> WarmPool | None:
    """The pool of started containers for the jobs this orchestrator runs itself, `depth` per
    kind (its owner is the data dir: a restart removes what a killed run left); none without
    Docker (each job then fails on it, and says so)."""
    from codsh.config import data_dir
    from codsh.executor.container import docker_client
    from codsh.executor.warm import WarmPool

    try:
        return WarmPool(docker_client(), f"serve:{data_dir()}", depth)
    except CodshError as exc:
        log.warning("no warm containers: %s", exc.message)
        return None


def remove_job_containers(job_id: str) -> None:
    """Remove what a killed run of local job `job_id` left in Docker (best effort: without a
    Docker engine the job fails again, and says so)."""
    from codsh.executor.container import docker_client, remove_job

    try:
        remove_job(docker_client(), job_id)
    except CodshError as exc:
        log.warning("could not remove job %s's containers: %s", job_id, exc.message)


async def by_content(ipfs: KuboClient, digest: str) -> str:
    """The CID of local image `digest` (pushed once, then remembered under the data dir)."""
    from codsh.config import data_dir
    from codsh.executor.container import docker_client
    from codsh.images.content import pushed_cid

    engine = await trio.to_thread.run_sync(docker_client)
    return await pushed_cid(engine, ipfs, digest, data_dir() / "images.json")


def image_id(name: str) -> str:
    from codsh import images
    from codsh.executor.container import docker_client

    return images.resolve(docker_client(), name)


def end_of(record: JobRecord) -> dict[str, Any]:
    """What a job's end says (also sent at once to a subscriber of a job that already ended)."""
    keys = ("state", "output", "manifest", "files", "failed", "reused", "seconds", "error")
    return {"job": record.id, **{key: getattr(record, key) for key in keys}} | (
        {"stages": record.as_dict()["stages"]} if record.stages else {}
    )
