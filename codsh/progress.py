"""What a running job shows on stderr: a rich progress bar while it runs, one summary line after."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from codsh.core.model import FileResult
from codsh.inputs import InputTree

stderr = Console(stderr=True, highlight=False, soft_wrap=True)


class JobProgress:
    """Files done/failed, bytes processed, ETA; silent when `enabled` is false (e.g. --json)."""

    def __init__(self, enabled: bool = True) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("{task.fields[bytes]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=stderr,
            transient=True,
            disable=not enabled,
        )
        self._files: TaskID | None = None
        self._failed = 0
        self._bytes_total = 0
        self._bytes_done = 0

    def __enter__(self) -> Self:
        self._progress.__enter__()
        self._files = self._progress.add_task("listing input", total=None, failed=0, bytes="")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.__exit__(kind, exc, tb)

    def listed(self, tree: InputTree) -> None:
        """A job's input is listed (again for each stage of a pipeline: the bar starts over)."""
        self.counted(len(tree.files), sum(f.size for f in tree.files))

    def file(self, result: FileResult) -> None:
        self.counted_file(result.ok, result.input_size)

    def counted(self, files: int, size: int, done: int = 0) -> None:
        """`files` of `size` bytes in all, `done` of them already (a job followed from its events)."""
        assert self._files is not None
        self._failed = self._bytes_done = 0
        self._bytes_total = size
        self._progress.reset(self._files, total=files, completed=done, failed=0, bytes="")
        self._progress.update(self._files, description="running")

    def counted_file(self, ok: bool, size: int) -> None:
        assert self._files is not None
        self._failed += 0 if ok else 1
        self._bytes_done += size
        done = f"{decimal(self._bytes_done)}/{decimal(self._bytes_total)}"
        self._progress.update(self._files, advance=1, failed=self._failed, bytes=done)
