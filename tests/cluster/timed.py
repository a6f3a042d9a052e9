"""An event sink for cluster tests: every file result with the time the driver got it."""

from __future__ import annotations

import time

from codsh.core.model import FileResult
from codsh.inputs import InputTree


class Timed:
    def __init__(self) -> None:
        self.files: list[tuple[float, FileResult]] = []  # (time.monotonic(), result), in order

    def listed(self, tree: InputTree) -> None:
        pass

    def file(self, result: FileResult) -> None:
        self.files.append((time.monotonic(), result))

    def paths(self, node: str | None = None) -> list[str]:
        return [r.path for _, r in self.files if node is None or r.node == node]
