"""The progress bars a job and `codsh add` draw on stderr while they run: rich, loaded only when
a bar is shown (on a terminal); the lines before and after are codsh/terminal.py's."""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Self

from codsh.core.model import FileResult
from codsh.terminal import console, decimal

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from codsh.core.folders import KeptFolder
    from codsh.inputs import InputTree  # an annotation only: importing it loads the kubo client


class JobProgress:
    """Files done/failed, bytes processed, ETA; silent when `enabled` is false (e.g. --json)."""

    def __init__(self, enabled: bool = True) -> None:
        self._progress: Progress | None = _bar(enabled)
        self._files: TaskID | None = None
        self._failed = 0
        self._bytes_total = 0
        self._bytes_done = 0

    def __enter__(self) -> Self:
        if self._progress is not None:
            self._progress.__enter__()
            self._files = self._progress.add_task("listing input", total=None, failed=0, bytes="")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.__exit__(kind, exc, tb)

    def listed(self, tree: InputTree) -> None:
        """A job's input is listed (again for each stage of a pipeline: the bar starts over)."""
        self.counted(tree.file_count, tree.byte_count)

    def file(self, result: FileResult) -> None:
        self.counted_file(result.ok, result.input_size)

    def folder(self, kept: KeptFolder) -> None:
        self.counted_file(True, kept.bytes_in, kept.files)

    def counted(
        self, files: int, size: int, done: int = 0, failed: int = 0, size_done: int = 0
    ) -> None:
        """`files` of `size` bytes in all, `done` of them (`size_done` bytes, `failed` of them
        failed) already: a job followed from its events."""
        if self._progress is None or self._files is None:
            return
        self._failed, self._bytes_done, self._bytes_total = failed, size_done, size
        shown = f"{decimal(size_done)}/{decimal(size)}" if size_done else ""
        self._progress.reset(self._files, total=files, completed=done, failed=failed, bytes=shown)
        self._progress.update(self._files, description="running")

    def counted_file(self, ok: bool, size: int, files: int = 1) -> None:
        if self._progress is None or self._files is None:
            return
        self._failed += 0 if ok else files
        self._bytes_done += size
        done = f"{decimal(self._bytes_done)}/{decimal(self._bytes_total)}"
        self._progress.update(self._files, advance=files, failed=self._failed, bytes=done)


def _bar(enabled: bool) -> Progress | None:
    """A job's bar; None (and rich not loaded) when it is not shown."""
    if not enabled:
        return None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TextColumn("{task.fields[bytes]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console(),
        transient=True,
    )


class AddProgress:
    """`codsh add`: files and bytes sent to kubo of the totals, then kubo finishing (its last
    directories and the pin come after the last byte); drawn at most 10 times a second."""

    def __init__(self, files: int, size: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files  {task.fields[bytes]}"),
            TimeElapsedColumn(),
            console=console(),
            transient=True,
        )
        self._files = files
        self._size = size
        self._drawn = 0.0
        self._task = self._progress.add_task("adding", total=files, bytes=self._bytes(0))

    def __enter__(self) -> Self:
        self._progress.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.__exit__(kind, exc, tb)

    def _bytes(self, done: int) -> str:
        return f"{decimal(done)}/{decimal(self._size)}"

    def sent(self, files: int, size: int) -> None:
        """`files` files and `size` content bytes sent so far."""
        now = time.monotonic()
        if files < self._files and now - self._drawn < 0.1:
            return
        self._drawn = now
        described = "kubo finishing" if files >= self._files else "adding"
        self._progress.update(
            self._task, completed=files, bytes=self._bytes(size), description=described
        )
