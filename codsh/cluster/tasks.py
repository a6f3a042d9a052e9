"""Carry out a job's reschedule policy (core/reschedule.py) on Dask, as trio code.

Every decision is the policy's; this only turns Dask's news into its events and its actions into
Dask calls. News (a future done, a per-file message from a node) lands in one thread-safe inbox,
read in short waits in a worker thread that a cancellation abandons, so Ctrl-C or `codsh job
cancel` is seen within POLL seconds; the driver then cancels its futures and tells every node to
stop the job's shards (cluster/node.py stop_job).
"""

from __future__ import annotations

import contextlib
import math
import queue
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import trio
from distributed import Client, Future

from codsh.cluster.messages import FileDone, ShardAnswer, news_of
from codsh.cluster.node import run_shard_task, stop_job
from codsh.cluster.reconnect import GIVE_UP, STUCK, nudge
from codsh.core.model import FileResult, Setup, ShardUse
from codsh.core.plan import Task
from codsh.core.reschedule import Action, Cancel, Lost, Report, Reschedule, Submit
from codsh.core.spec import JobSpec
from codsh.errors import ServiceUnavailable

POLL = 0.2  # seconds one wait for news lasts (how soon a cancellation is seen)
CHECK = 1.0  # seconds between looks at the scheduler's node list
RESULT_WAIT = 60.0  # seconds to fetch a finished shard's answer from its node
ASK_WAIT = 10.0  # seconds the scheduler may take to list its nodes
STOP_WAIT = 8.0  # seconds the nodes get to stop a cancelled job's shards

News = tuple[str, Any]  # ("done", (attempt, future)) or ("file", FileDone)


class FileNews:
    """The nodes' per-file messages to one client, handed to every ShardTasks that follows one.

    They come on one topic, named after the client (the scheduler drops a client's topic when it
    leaves, so a job's messages do not pile up there), and Dask keeps one handler per topic: the
    replicas of a job, each a ShardTasks, share it. Each keeps only its own tasks' messages."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.topic = str(client.id)
        self._inboxes: list[queue.SimpleQueue[News]] = []

    async def follow(self, inbox: queue.SimpleQueue[News]) -> None:
        if inbox not in self._inboxes:
            self._inboxes.append(inbox)
        await self.subscribe()

    async def subscribe(self) -> None:
        """(Again, after the scheduler restarted and forgot the subscription.)"""
        await trio.to_thread.run_sync(self.client.subscribe_topic, self.topic, self._on_event)

    def leave(self, inbox: queue.SimpleQueue[News]) -> None:
        with contextlib.suppress(ValueError):
            self._inboxes.remove(inbox)
        if not self._inboxes:
            with contextlib.suppress(Exception):
                self.client.unsubscribe_topic(self.topic)

    def _on_event(self, event: tuple[float, Any]) -> None:
        for done in news_of(event[1]):
            for inbox in list(self._inboxes):
                inbox.put(("file", done))


class ShardTasks:
    """One job's shards on the cluster, from submission to every file's final result."""

    def __init__(
        self,
        client: Client,
        spec: JobSpec,
        job: str,
        holders: Mapping[str, frozenset[str]],
        names: Mapping[str, str],
        on_file: Callable[[FileResult], None],
        excluded: frozenset[str] = frozenset(),
        scheduler: str = "",
        news: FileNews | None = None,
    ) -> None:
        self.client = client
        self.scheduler = scheduler or "its address"
        self.excluded = excluded  # Dask workers that are not codsh nodes: never given a shard
        self.spec_json = spec.canonical_json()
        self.name = task_name(spec.command)
        self.job = job  # labels the shard containers on every node
        self.run_key = uuid.uuid4().hex[:8]  # Dask keys of this run (a resumed job has others)
        self.names = names
        self.on_file = on_file
        self.policy = Reschedule(holders, names)
        self.futures: dict[int, Future[Any]] = {}  # attempt -> its task
        self.setup: list[Setup] = []  # per shard task: the environment it built or reused
        self.shards: list[ShardUse] = []  # per shard task: what it used
        self._inbox: queue.SimpleQueue[News] = queue.SimpleQueue()
        self._news = news or FileNews(client)
        self._keys: dict[int, str] = {}  # attempt -> its task's Dask key

    @property
    def rescheduled(self) -> int:
        return self.policy.rescheduled

    async def run(self, tasks: list[Task]) -> list[FileResult]:
        """Every file's result; on cancellation (or any error) the job's shards are stopped."""
        await self._news.follow(self._inbox)
        try:
            live = await self._live()
            await self._act(self.policy.start(tasks, live or []))
            await self._follow()
        finally:
            with trio.CancelScope(shield=True):
                if not self.policy.done and self.client.status == "running":
                    await self._stop()
                self._news.leave(self._inbox)
        return self.policy.results

    async def _follow(self) -> None:
        next_check = trio.current_time() + CHECK
        connected, lost_at = True, math.inf
        while not self.policy.done:
            news = await trio.to_thread.run_sync(_take, self._inbox, POLL, abandon_on_cancel=True)
            self._check_connected(lost_at)  # a closed client's futures look cancelled: not news
            for kind, item in news:
                await self._act(await self._handle(kind, item))
            now = trio.current_time()
            if now >= next_check:
                next_check = now + CHECK
                live = await self._live()
                if live is not None and not connected:  # a restarted scheduler forgot us
                    await self._news.subscribe()
                if live is not None:
                    await self._act(self.policy.nodes_seen(live, now))
                lost_at = math.inf if live is not None else min(lost_at, now)
                if now - lost_at > STUCK:
                    nudge(self.client)  # distributed may have given up early (reconnect.py)
                connected = live is not None
            await self._act(self.policy.tick(now))

    def _check_connected(self, lost_at: float) -> None:
        """The client gave up reconnecting to the scheduler (it waited `timeout`), or has not
        reconnected in GIVE_UP seconds: the job ends with a service error; the files already
        done are recorded, so a resume reruns the rest."""
        given_up = trio.current_time() - lost_at > GIVE_UP
        if self.client.status in ("closing", "closed") or given_up:
            raise ServiceUnavailable(
                f"lost the connection to the codsh scheduler at {self.scheduler}: it did not "
                "come back",
                "start the scheduler again (`codsh devstack up` on a devstack), then "
                "`codsh job resume JOB` runs only the files not done",
            )

    async def _handle(self, kind: str, item: Any) -> list[Action]:
        if kind == "file":
            done: FileDone = item
            if done.job != self.job or done.task != self._keys.get(done.attempt):
                return []  # another job's, or another replica's (they number attempts alike)
            return self.policy.file_done(done.attempt, done.node, done.result)
        attempt, future = item
        task = self.policy.pending.get(attempt)
        if self.futures.pop(attempt, None) is None or task is None:
            return []  # cancelled by us: its node left
        if future.status == "cancelled":  # not by us: the scheduler went away with it
            return self.policy.scheduler_lost(attempt)
        try:
            wire = await trio.to_thread.run_sync(
                lambda: future.result(timeout=RESULT_WAIT), abandon_on_cancel=True
            )
        except Exception as exc:  # noqa: BLE001 - the shard is lost, the job goes on
            return self.policy.failed(attempt, task.node, str(exc) or type(exc).__name__)
        answer = ShardAnswer.from_wire(wire)
        if answer.setup:
            self.setup.append(replace(answer.setup, node=self._name(answer.node)))
        if answer.usage:
            self.shards.append(replace(answer.usage, node=self._name(answer.node)))
        if answer.infrastructure_error is not None:  # not the user's command: try elsewhere
            error, results = answer.infrastructure_error, answer.results
            return self.policy.infrastructure_failed(attempt, answer.node, error, results)
        return self.policy.finished(attempt, answer.node, answer.results)

    async def _act(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Submit):
                self._submit(action)
            elif isinstance(action, Cancel):
                future = self.futures.pop(action.attempt, None)
                if future is not None:
                    await trio.to_thread.run_sync(_cancel, future, abandon_on_cancel=True)
            elif isinstance(action, Report | Lost):
                for result in action.results:
                    self.on_file(result)

    def _submit(self, action: Submit) -> None:
        shard, attempt = action.task.shard, action.attempt
        key = f"{self.name}-{self.job}-{self.run_key}-shard-{shard.index}-{attempt}"
        self._keys[attempt] = key
        future = self.client.submit(
            run_shard_task,
            self.job,
            self.spec_json,
            attempt,
            shard.index,
            [(f.path, f.cid, f.size) for f in shard.files],
            self._news.topic,
            key=key,
            workers=[action.task.node],
            pure=False,
        )
        self.futures[attempt] = future
        future.add_done_callback(lambda f: self._inbox.put(("done", (attempt, f))))

    async def _live(self) -> list[str] | None:
        """The scheduler's nodes, or None while the client reconnects to a restarted one."""
        if self.client.status != "running":
            return None
        with trio.move_on_after(ASK_WAIT):
            try:
                info = await trio.to_thread.run_sync(
                    self.client.scheduler_info, abandon_on_cancel=True
                )
            except (OSError, TimeoutError):  # the connection dropped while asking
                return None
            return sorted(set(info["workers"]) - self.excluded)
        return None

    async def _stop(self) -> None:
        """The job ends unfinished: cancel its tasks, and have every node stop its shards now."""
        futures = list(self.futures.values())
        self.futures.clear()

        def stop() -> None:
            with contextlib.suppress(Exception):  # best effort: a dead node stops anyway
                self.client.cancel(futures, force=True)
                self.client.run(stop_job, self.job, on_error="return")

        with trio.move_on_after(STOP_WAIT):
            await trio.to_thread.run_sync(stop, abandon_on_cancel=True)

    def _name(self, address: str) -> str:
        return self.names.get(address, address)


def _cancel(future: Future[Any]) -> None:
    with contextlib.suppress(Exception):  # a closed client has nothing left to cancel
        future.cancel()


def _take(inbox: queue.SimpleQueue[News], timeout: float) -> list[News]:
    """What is in `inbox`, waiting up to `timeout` for the first item."""
    try:
        news = [inbox.get(timeout=timeout)]
    except queue.Empty:
        return []
    while True:
        try:
            news.append(inbox.get_nowait())
        except queue.Empty:
            return news


def task_name(command: str, width: int = 40) -> str:
    """What the Dask dashboard calls a job's shard tasks (it shows a key up to its first `-`
    followed by an ID): "codsh" and the command, so a task says what it runs; the job ID
    follows in the key, so `codsh job describe` and the dashboard name the same job."""
    words = re.sub(r"[^A-Za-z0-9 ./|:=,_]+", " ", command).split()
    shown = " ".join(words)
    return f"codsh {shown[:width].rstrip()}" if shown else "codsh"
