"""Where a job's events go: one sink receives the listing and every file result (the progress bar,
the job records and the memo all hang off it); results never jump from an executor into a CLI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import trio

from codsh.core.folders import KeptFolder
from codsh.core.memo import with_twins
from codsh.core.model import FileResult, InputFile
from codsh.core.spec import JobSpec
from codsh.inputs import InputTree
from codsh.jobs.store import JobStore


class Events(Protocol):
    def listed(self, tree: InputTree) -> None:
        """The input is listed: how many files and bytes there are."""

    def file(self, result: FileResult) -> None:
        """One file's final result (run now, reused from the memo, or lost), once per file."""

    def folder(self, kept: KeptFolder) -> None:
        """A folder linked whole from the folder memo: its files, all succeeded, are done."""


class NoEvents:
    def listed(self, tree: InputTree) -> None:
        pass

    def file(self, result: FileResult) -> None:
        pass

    def folder(self, kept: KeptFolder) -> None:
        pass


class Fanout:
    """Every event to every sink, in order."""

    def __init__(self, *sinks: Events) -> None:
        self._sinks = sinks

    def listed(self, tree: InputTree) -> None:
        for sink in self._sinks:
            sink.listed(tree)

    def file(self, result: FileResult) -> None:
        for sink in self._sinks:
            sink.file(result)

    def folder(self, kept: KeptFolder) -> None:
        for sink in self._sinks:
            sink.folder(kept)


class WithTwins:
    """Reports, after each result, the results of the files that share its input CID (they were
    computed once, with it)."""

    def __init__(self, events: Events, twins: Mapping[str, list[InputFile]]) -> None:
        self._events = events
        self._twins = twins

    def file(self, result: FileResult) -> None:
        self._events.file(result)
        for twin in with_twins([result], self._twins):
            self._events.file(twin)


class Recorder(NoEvents):
    """Records per-file results (and memo entries) in the job store as a job runs, in batches (a
    commit per file would cost more than the file), so a resumed job reruns at most the last
    `every` seconds of work. `run` flushes in the background; `flush` writes what is pending."""

    def __init__(
        self, store: JobStore, job_id: str, memo_of: JobSpec | None = None, every: float = 1.0
    ) -> None:
        self._store = store
        self._job_id = job_id
        self._memo_of = memo_of
        self._every = every
        self._pending: list[FileResult] = []

    def file(self, result: FileResult) -> None:
        self._pending.append(result)

    async def run(self) -> None:
        while True:
            await trio.sleep(self._every)
            await self.flush()

    async def flush(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(
                    self._store.save_results, self._job_id, batch, self._memo_of
                )
