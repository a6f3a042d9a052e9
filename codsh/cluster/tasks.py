"""Submit a job's shards to Dask and see them through, rerunning those whose node left.

Shards are pinned to their node (strict worker restrictions), so Dask never moves work away from
the data on its own; when a node leaves, its pending shards would wait for it forever, so this loop
notices (the scheduler's worker list, checked every `poll` seconds) and resubmits them to the node
storing most of their bytes among those left. A shard whose infrastructure fails (container or
kubo, not the user's command) is tried on one other node; a command failing on a file is recorded
in that file's result and never retried.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import trio
from distributed import Client, Future, wait
from distributed.client import FuturesCancelledError

from codsh.cluster.node import run_shard_task
from codsh.executor.runners import Setup
from codsh.executor.shard import FileResult
from codsh.memo import with_twins
from codsh.placement import PlacementError, Task, replacement_node
from codsh.plan import InputFile
from codsh.spec import JobSpec

NO_NODE_WAIT = 60.0  # seconds to wait for a node to (re)join when none is left
MAX_TRIES = 2  # nodes a shard is tried on when the infrastructure (not the command) fails
MAX_LOST = 3  # times a shard is resubmitted after the scheduler lost it (it restarted)


class ShardTasks:
    def __init__(
        self,
        client: Client,
        spec: JobSpec,
        holders: Mapping[str, frozenset[str]],
        names: Mapping[str, str],
        on_file: Callable[[FileResult], None],
        twins: Mapping[str, list[InputFile]] | None = None,
    ) -> None:
        self.client = client
        self.spec_json = spec.canonical_json()
        self.holders = holders
        self.names = names
        self.on_file = on_file
        self.twins = twins or {}  # files computed once with the file of the same CID that runs
        self.job = uuid.uuid4().hex[:12]
        self.pending: dict[Future[Any], Task] = {}
        self.results: list[FileResult] = []
        self.setup: list[Setup] = []  # per shard task: the environment it built or reused
        self.rescheduled = 0
        self._submitted = 0
        self._tried: dict[int, set[str]] = {}  # shard index -> nodes it was sent to
        self._broken: dict[int, list[str]] = {}  # shard index -> infrastructure failures
        self._lost: dict[int, int] = {}  # shard index -> times the scheduler lost it

    def run(self, tasks: list[Task], poll: float = 1.0) -> list[FileResult]:
        """Blocking (call it from a worker thread): returns every file's result."""
        for task in tasks:
            self._submit(task)
        alone_since: float | None = None
        while self.pending:
            try:
                done = wait(list(self.pending), timeout=poll, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                done = set()
            except FuturesCancelledError:  # the scheduler went away: its futures are cancelled
                done = {f for f in self.pending if f.status in ("cancelled", "finished", "error")}
            for future in done:
                self._collect(future, self.pending.pop(future))
            if self.client.status != "running":  # reconnecting to a restarted scheduler
                time.sleep(poll)
                continue
            live = sorted(self.client.scheduler_info()["workers"])
            lost = [(f, t) for f, t in self.pending.items() if t.node not in live]
            if lost and not live:
                alone_since = alone_since or time.monotonic()
                if time.monotonic() - alone_since > NO_NODE_WAIT:
                    self._give_up(f"no codsh node left for {NO_NODE_WAIT:g}s")
                continue
            alone_since = None
            for future, task in lost:
                self._rerun(future, task, live)
        return self.results

    def _submit(self, task: Task) -> None:
        self._submitted += 1
        self._tried.setdefault(task.shard.index, set()).add(task.node)
        future = self.client.submit(
            run_shard_task,
            self.spec_json,
            task.shard.index,
            [(f.path, f.cid, f.size) for f in task.shard.files],
            key=f"codsh-{self.job}-shard-{task.shard.index}-{self._submitted}",
            workers=[task.node],
            pure=False,
        )
        self.pending[future] = task

    def _rerun(self, future: Future[Any], task: Task, live: list[str]) -> None:
        future.cancel()
        del self.pending[future]
        self._place_again(task, live)

    def _place_again(self, task: Task, candidates: list[str], why: str = "") -> None:
        busy = Counter(t.node for t in self.pending.values())
        try:
            node = replacement_node(task.shard, self.holders, candidates, busy)
        except PlacementError as exc:
            self._fail(task, why or str(exc))
            return
        stored = sum(f.size for f in task.shard.files if node in self.holders.get(f.cid, ()))
        self.rescheduled += 1
        self._submit(Task(task.shard, node, stored))

    def _collect(self, future: Future[Any], task: Task) -> None:
        if future.status == "cancelled":  # not by us: the scheduler went away with it
            self._lost[task.shard.index] = self._lost.get(task.shard.index, 0) + 1
            if self._lost[task.shard.index] > MAX_LOST:
                self._fail(task, f"lost with the scheduler {MAX_LOST} times")
            else:
                self.rescheduled += 1
                self._submit(task)  # same node; if it is gone, the node check moves it
            return
        try:
            answer = future.result()
        except Exception as exc:  # noqa: BLE001 - the shard is lost, the job goes on
            self._fail(task, f"shard failed on {self._name(task.node)}: {exc}")
            return
        if "infrastructure_error" in answer:  # not the user's command: worth a try elsewhere
            index = task.shard.index
            failure = f"{self._name(task.node)}: {answer['infrastructure_error']}"
            self._broken.setdefault(index, []).append(failure)
            why = "infrastructure failed on " + "; then on ".join(self._broken[index])
            tried = self._tried[index]
            others = [n for n in self.client.scheduler_info()["workers"] if n not in tried]
            if len(tried) >= MAX_TRIES or not others:
                self._fail(task, why)
            else:
                self._place_again(task, sorted(others), why)
            return
        node = self._name(answer["node"])
        if "setup" in answer:
            self.setup.append(Setup(**{**answer["setup"], "node": node}))
        self._report([FileResult(**{**r, "node": node}) for r in answer["results"]])

    def _give_up(self, reason: str) -> None:
        for future, task in list(self.pending.items()):
            future.cancel()
            self._fail(task, reason)
        self.pending.clear()

    def _fail(self, task: Task, reason: str) -> None:
        node = self._name(task.node)
        self._report(
            [FileResult(f.path, f.cid, f.size, error=reason, node=node) for f in task.shard.files]
        )

    def _report(self, results: list[FileResult]) -> None:
        for result in results + with_twins(results, self.twins):
            trio.from_thread.run_sync(self.on_file, result)
        self.results.extend(results)

    def _name(self, address: str) -> str:
        return self.names.get(address, address)
