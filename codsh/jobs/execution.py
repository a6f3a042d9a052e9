"""The one seam between a job's life and where it runs: on this node (jobs/local.py) or on the
cluster (cluster/execution.py). The life itself (jobs/run.py) is written once, against this."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from codsh.core.folders import KeptFolder
from codsh.core.model import FileResult, InputFile, Setup, ShardUse
from codsh.core.plan import LocalityReport
from codsh.core.spec import JobSpec
from codsh.ipfs.client import KuboClient

OnFile = Callable[[FileResult], None]


@dataclass
class Ran:
    """What an execution did: one result per file it was given, and what it cost to get ready."""

    results: list[FileResult] = field(default_factory=list)
    placement: LocalityReport | None = None  # how local a cluster run was
    setup: list[Setup] = field(default_factory=list)  # environments built or reused, per node
    shards: list[ShardUse] = field(default_factory=list)  # what each shard's run used


class Run(Protocol):
    """One job's use of an execution, between `Execution.open` and its end."""

    outputs_here: bool  # outputs are in the driver's kubo (else on the nodes that made them)

    async def available(
        self, inputs: list[str], outputs: Mapping[str, str], folders: Sequence[KeptFolder] = ()
    ) -> set[str]:
        """Which of `outputs` (remembered results' CIDs, each with the node that made it: the
        node asked) are still stored where they can be linked; `folders` are the kept folders
        whose outputs are among them; `inputs` are the input CIDs of the files that may run (the
        cluster asks who holds them in the same round, for its placement: a file whose input was
        not asked runs unplaced)."""
        ...

    async def execute(self, files: list[InputFile], on_file: OnFile) -> Ran:
        """Run `files`; `on_file` once per file as its result is final (output stored)."""
        ...


class Execution(Protocol):
    def open(self, spec: JobSpec, ipfs: KuboClient) -> AbstractAsyncContextManager[Run]:
        """Get ready to run `spec` (the cluster connects here), and clean up after."""
        ...
