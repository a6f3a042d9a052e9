"""What a lost shard means, decided once for this node and the cluster alike. Pure logic.

A shard whose infrastructure fails (container start, kubo write, its node leaving) keeps the
files it finished: their results are final. The rest run again, as a new shard, up to MAX_TRIES
in all; a command failing on a file is that file's result and is never retried.

On a cluster, `Reschedule` is that rule as a state machine: the Dask glue (cluster/tasks.py) feeds
it what happened (a file finished, a shard answered or broke, the node list changed, the scheduler
lost a shard, time passed) and carries out the actions it returns (submit, cancel, report, lost).
Shards are pinned to their node, so Dask never moves work away from the data on its own: a shard
of a node that left goes to the live node storing most of its bytes (core/plan.replacement_node).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from codsh.core.model import FileResult, InputFile, Outcome, Shard
from codsh.core.plan import FileRun, LocalityReport, PlacementError, Task, replacement_node

MAX_TRIES = 2  # runs of a shard's files when the infrastructure (not the command) fails
MAX_LOST = 3  # times a shard is resubmitted after the scheduler lost it (it restarted)
NO_NODE_WAIT = 60.0  # seconds to wait for a node to (re)join when none is left


def unfinished(files: Sequence[InputFile], finished: Collection[str]) -> tuple[InputFile, ...]:
    """The files of a shard still to run once those at paths `finished` have final results."""
    return tuple(f for f in files if f.path not in finished)


@dataclass(frozen=True)
class Submit:
    """Run `task` (a shard holding only the files still to run) as submission `attempt`."""

    attempt: int
    task: Task


@dataclass(frozen=True)
class Cancel:
    """Submission `attempt` is abandoned (its node left); whatever it still says is ignored."""

    attempt: int


@dataclass(frozen=True)
class Report:
    """Final results, each file's once (they go to the job's event sink)."""

    results: tuple[FileResult, ...]


@dataclass(frozen=True)
class Lost:
    """Files given up on (Outcome.INFRASTRUCTURE): they broke too often, or no node is left."""

    reason: str
    results: tuple[FileResult, ...]


Action = Submit | Cancel | Report | Lost


class Reschedule:
    """The retry and reschedule decisions of one job's shards on a cluster."""

    def __init__(
        self, holders: Mapping[str, frozenset[str]], names: Mapping[str, str] | None = None
    ) -> None:
        self.holders = holders  # file CID -> the nodes that store it
        self.names = names or {}  # node address -> the name reports show
        self.pending: dict[int, Task] = {}  # attempt -> what it runs, where
        self.final: dict[str, FileResult] = {}  # path -> its final result
        self.rescheduled = 0  # submissions beyond the first of each shard
        self.live: list[str] = []  # the nodes the scheduler knows, last we heard
        self._attempts = 0
        self._source: dict[str, int] = {}  # path -> the attempt its final result came from
        self._runs: dict[str, FileRun] = {}  # path -> where its final result was produced
        self._tried: dict[int, set[str]] = {}  # shard index -> nodes it was sent to
        self._broken: dict[int, list[str]] = {}  # shard index -> its infrastructure failures
        self._lost: dict[int, int] = {}  # shard index -> times the scheduler lost it
        self._alone_since: float | None = None

    @property
    def done(self) -> bool:
        return not self.pending

    @property
    def results(self) -> list[FileResult]:
        return list(self.final.values())

    def file_runs(self) -> list[FileRun]:
        """Where each file's final result was produced (files given up on ran nowhere)."""
        return list(self._runs.values())

    def locality(self) -> LocalityReport:
        """Where the files ran: the nodes that produced their results (not where their shards
        were placed first); files given up on ran nowhere."""
        runs = list(self._runs.values())
        lost = len(self.final) - len(runs)
        return LocalityReport.of_runs(runs, self.names, not_run=lost, rescheduled=self.rescheduled)

    def start(self, tasks: Sequence[Task], live: Sequence[str]) -> list[Action]:
        self.live = sorted(live)
        return [self._submit(task.shard, task.node) for task in tasks]

    def file_done(self, attempt: int, node: str, result: FileResult) -> list[Action]:
        """A node stored one file's output (a per-file message, before its shard ends); one
        from a node the attempt was not given to is not its news."""
        task = self.pending.get(attempt)
        return self._keep(attempt, task, node, [result]) if task and task.node == node else []

    def finished(self, attempt: int, node: str, results: Sequence[FileResult]) -> list[Action]:
        """A shard's answer: authoritative for the files not yet reported."""
        task = self.pending.pop(attempt, None)
        if task is None:
            return []
        actions = self._keep(attempt, task, node, results)
        missing = unfinished(task.shard.files, self.final)
        if missing:  # never seen: a node answers for every file it was given
            actions.append(self._give_up(missing, f"{self._name(node)} returned no result", node))
        return actions

    def infrastructure_failed(
        self, attempt: int, node: str, error: str, results: Sequence[FileResult]
    ) -> list[Action]:
        """Not the user's command: the files finished before it are kept, the rest is tried on
        another node, MAX_TRIES nodes in all."""
        task = self.pending.pop(attempt, None)
        if task is None:
            return []
        actions = self._keep(attempt, task, node, results)
        index = task.shard.index
        self._broken.setdefault(index, []).append(f"{self._name(node)}: {error}")
        why = "infrastructure failed on " + "; then on ".join(self._broken[index])
        rest = unfinished(task.shard.files, self.final)
        if not rest:
            return actions
        tried = self._tried[index]
        others = [n for n in self.live if n not in tried]
        if len(tried) >= MAX_TRIES or not others:
            return [*actions, self._give_up(rest, why, task.node)]
        return [*actions, self._place_again(task.shard, rest, others, why, task.node)]

    def failed(self, attempt: int, node: str, error: str) -> list[Action]:
        """The shard task itself raised (a bug, not the infrastructure): no retry."""
        task = self.pending.pop(attempt, None)
        if task is None:
            return []
        rest = unfinished(task.shard.files, self.final)
        why = f"shard failed on {self._name(node)}: {error}"
        return [self._give_up(rest, why, task.node)] if rest else []

    def scheduler_lost(self, attempt: int) -> list[Action]:
        """The scheduler went away with the shard (it restarted): the rest goes again, to the same
        node (if it is gone, the next node list moves it), MAX_LOST times."""
        task = self.pending.pop(attempt, None)
        if task is None:
            return []
        rest = unfinished(task.shard.files, self.final)
        if not rest:
            return []
        index = task.shard.index
        self._lost[index] = self._lost.get(index, 0) + 1
        if self._lost[index] > MAX_LOST:
            return [self._give_up(rest, f"lost with the scheduler {MAX_LOST} times", task.node)]
        self.rescheduled += 1
        return [self._submit(Shard(index, rest), task.node)]

    def nodes_seen(self, live: Sequence[str], now: float) -> list[Action]:
        """The scheduler's node list: shards of nodes that left move to the live nodes; with no
        node left, they wait (see `tick`)."""
        self.live = sorted(live)
        gone = [(a, t) for a, t in sorted(self.pending.items()) if t.node not in self.live]
        if gone and not self.live:
            self._alone_since = now if self._alone_since is None else self._alone_since
            return []
        self._alone_since = None
        actions: list[Action] = []
        for attempt, task in gone:
            del self.pending[attempt]
            actions.append(Cancel(attempt))
            rest = unfinished(task.shard.files, self.final)
            if rest:
                actions.append(self._place_again(task.shard, rest, self.live, "", task.node))
        return actions

    def tick(self, now: float) -> list[Action]:
        """Time passed: with no node for NO_NODE_WAIT seconds, every pending file is lost."""
        if self._alone_since is None or now - self._alone_since <= NO_NODE_WAIT:
            return []
        return self.abandon(f"no codsh node left for {NO_NODE_WAIT:g}s")

    def abandon(self, reason: str) -> list[Action]:
        """Give up on everything pending (e.g. the connection to the scheduler is gone)."""
        actions: list[Action] = []
        for attempt, task in sorted(self.pending.items()):
            actions.append(Cancel(attempt))
            rest = unfinished(task.shard.files, self.final)
            if rest:
                actions.append(self._give_up(rest, reason, task.node))
        self.pending.clear()
        self._alone_since = None
        return actions

    def _keep(
        self, attempt: int, task: Task, node: str, results: Sequence[FileResult]
    ) -> list[Action]:
        """Results of `attempt` become final, each file's once; a later copy from the same attempt
        (the shard's answer after its per-file message) replaces it without a second report."""
        files = {f.path: f for f in task.shard.files}
        new: list[FileResult] = []
        for result in results:
            file = files.get(result.path)
            if file is None:
                continue
            named = replace(result, node=self._name(node))
            if result.path not in self.final:
                new.append(named)
            elif self._source.get(result.path) != attempt:
                continue
            self.final[result.path] = named
            self._source[result.path] = attempt
            local = node in self.holders.get(file.cid, ())
            self._runs[result.path] = FileRun(file, node, attempt, local)
        return [Report(tuple(new))] if new else []

    def _place_again(
        self,
        shard: Shard,
        rest: tuple[InputFile, ...],
        candidates: Sequence[str],
        why: str,
        node: str,
    ) -> Action:
        busy = Counter(t.node for t in self.pending.values())
        moved = Shard(shard.index, rest)
        try:
            target = replacement_node(moved, self.holders, candidates, busy)
        except PlacementError as exc:
            return self._give_up(rest, why or str(exc), node)
        self.rescheduled += 1
        return self._submit(moved, target)

    def _submit(self, shard: Shard, node: str) -> Submit:
        self._attempts += 1
        stored = sum(f.size for f in shard.files if node in self.holders.get(f.cid, ()))
        task = Task(shard, node, stored)
        self.pending[self._attempts] = task
        self._tried.setdefault(shard.index, set()).add(node)
        return Submit(self._attempts, task)

    def _give_up(self, files: Sequence[InputFile], reason: str, node: str = "") -> Lost:
        name = self._name(node) if node else ""
        lost = tuple(FileResult.lost(f, Outcome.INFRASTRUCTURE, reason, name) for f in files)
        for result in lost:
            self.final[result.path] = result
        return Lost(reason, lost)

    def _name(self, address: str) -> str:
        return self.names.get(address, address)
