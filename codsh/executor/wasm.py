"""The WASM executor: a WASI preview 1 module run over every file of a shard, next to the data.

Why beside Docker: an instance starts in well under a millisecond, not a container's ~0.2 s; CPU
is metered exactly (fuel); and runs are deterministic by construction (see wasm_runtime: random
bytes seeded from the job spec and the file's CID, a virtual clock), so the same module and input
give the same output CID on any node, and replicas agree. Each file is staged from kubo into the
scratch tmpfs, run in a worker thread (wasmtime blocks), and its capped stdout added to kubo with
the Docker executor's options: the same output bytes give the same CID whichever executor made them.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import trio
import wasmtime

from codsh import config
from codsh.core.determinism import file_seed
from codsh.core.model import FileResult, Outcome, Shard
from codsh.errors import CodshError, InfrastructureError, InputError, leaf
from codsh.executor.outputs import add_outputs, short_read, store_stderr
from codsh.executor.shard import Progress
from codsh.executor.wasm_runtime import (
    CompiledModule,
    WasmLimits,
    WasmRun,
    compile_module,
    make_engine,
    run_module,
    shared_engine,
)
from codsh.ipfs.client import AddResult, KuboClient
from codsh.ipfs.multipart import AddEntry
from codsh.ipfs.sources import CHUNK

__all__ = [
    "CompiledModule",
    "WasmLimits",
    "WasmRun",
    "WasmShardRunner",
    "compile_module",
    "make_engine",
    "run_module",
    "shared_engine",
]

PREFETCH_FILES = 4  # inputs staged ahead of their turn (kubo's latency is per request)...
PREFETCH_BYTES = 256 * 1024**2  # ...holding at most this much of the scratch tmpfs
OUTPUTS_WAITING = 8  # finished outputs held in scratch while the add request takes earlier ones


class WasmShardRunner:
    """Runs shards of one module against one kubo, outputs added like the Docker executor's (same
    bytes, same CID). The module is compiled here: a bad one fails before any file runs.
    `job_seed` (core/determinism.job_seed of the spec) seeds, with each file's CID, its randomness."""

    def __init__(
        self,
        module_bytes: bytes,
        ipfs: KuboClient,
        limits: WasmLimits | None = None,
        scratch_root: Path | None = None,
        engine: wasmtime.Engine | None = None,
        ok_exit: tuple[int, ...] = (),
        job_seed: bytes = b"",
    ) -> None:
        limits = limits or WasmLimits()
        self.job_seed = job_seed
        self.ok_exit = ok_exit  # statuses that succeed besides 0 (--ok-exit; 0 too when given)
        self.engine = engine or shared_engine()
        self.module = compile_module(module_bytes, self.engine)
        if self.module.min_memory > limits.memory:
            raise InputError(
                f"the module starts with {self.module.min_memory} bytes of memory, more than the {limits.memory} allowed",
                "raise --memory",
            )
        self.ipfs = ipfs
        self.limits = limits
        self.scratch_root = scratch_root or config.scratch_root()

    async def run(self, shard: Shard, progress: Progress = lambda _: None) -> list[FileResult]:
        scratch = Path(tempfile.mkdtemp(prefix="codsh-wasm-", dir=self.scratch_root))
        try:
            return await _WasmShardRun(self, shard, scratch, progress).run()
        except BaseExceptionGroup as group:
            found = leaf(group, InfrastructureError)
            if found is None:
                raise
            raise found from None  # one clear error for the shard, not a tree of them
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


class _WasmShardRun:
    """One shard: inputs are fetched a few files ahead while one runs, and outputs go to kubo in
    streamed add requests (codsh/executor/outputs.py), as in the Docker executor."""

    def __init__(
        self, runner: WasmShardRunner, shard: Shard, scratch: Path, progress: Progress
    ) -> None:
        self.runner = runner
        self.files = shard.files
        self.scratch = scratch
        self.progress = progress
        self.results = [FileResult(f.path, f.cid, f.size) for f in shard.files]
        self._ready = [trio.Event() for _ in shard.files]  # set once staged (or failed to be)
        self._fetch_errors: list[str | None] = [None] * len(shard.files)
        self._staged: set[int] = set()  # fetched or being fetched, not yet run
        self._staged_bytes = 0
        self._room = trio.Event()  # set when a staged file is done with

    async def run(self) -> list[FileResult]:
        parts_in, parts_out = trio.open_memory_channel[AddEntry](OUTPUTS_WAITING)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._fetch_all, nursery)
            nursery.start_soon(add_outputs, self.runner.ipfs, parts_out, self._added_outputs)
            async with parts_in:
                for index, file in enumerate(self.files):
                    await self._ready[index].wait()
                    await self._run_file(index, self._fetch_errors[index], parts_in)
                    self._staged_bytes -= file.size
                    self._staged.discard(index)
                    self._room.set()
        await store_stderr(self.runner.ipfs, self.results)
        return self.results

    async def _fetch_all(self, nursery: trio.Nursery) -> None:
        """Start fetching files in order while at most PREFETCH_FILES and PREFETCH_BYTES are
        staged (a larger file is fetched alone)."""
        for index, file in enumerate(self.files):
            while self._staged and (
                len(self._staged) >= PREFETCH_FILES
                or self._staged_bytes + file.size > PREFETCH_BYTES
            ):
                self._room = trio.Event()
                await self._room.wait()
            self._staged.add(index)
            self._staged_bytes += file.size
            nursery.start_soon(self._fetch, index)

    async def _fetch(self, index: int) -> None:
        try:
            self._fetch_errors[index] = await self._stage(index)
        finally:
            self._ready[index].set()

    async def _stage(self, index: int) -> str | None:
        """Write file `index` to scratch; returns why it could not be."""
        file = self.files[index]
        received = 0
        try:
            # Plain writes: scratch is tmpfs, where a write is a memory copy with no disk to wait on.
            with (self.scratch / f"{index}.in").open("wb") as staged:
                async for chunk in self.runner.ipfs.cat(file.cid):
                    staged.write(chunk)
                    received += len(chunk)
        except CodshError as exc:
            return f"could not read the input from kubo: {exc}"
        except OSError as exc:
            return f"could not stage the input in scratch ({exc})"
        short = short_read(file, received)
        return f"could not read the input from kubo: {short}" if short else None

    async def _run_file(
        self, index: int, fetch_error: str | None, parts: trio.MemorySendChannel[AddEntry]
    ) -> None:
        result = self.results[index]
        stdin, stdout, stderr = (self.scratch / f"{index}.{s}" for s in ("in", "out", "err"))
        if fetch_error is not None:
            stdin.unlink(missing_ok=True)
            result.fail(Outcome.FETCH_FAILED, fetch_error)
            self.progress(result)
            return
        runner = self.runner
        seed = file_seed(runner.job_seed, self.files[index].cid)
        run = await trio.to_thread.run_sync(
            run_module, runner.module, runner.engine, stdin, stdout, stderr, runner.limits, seed
        )
        stdin.unlink()
        result.fuel = run.fuel_used
        result.exit_code, result.seconds = run.exit_code, run.seconds
        for outcome, message in run.failures:
            if outcome is Outcome.EXITED and run.exit_code in runner.ok_exit:
                continue  # an accepted status (core/exits: no grep rule for a module)
            result.fail(outcome, message)
        result.output_size = run.output_size
        result.stderr = stderr.read_bytes().decode("utf-8", errors="replace")
        stderr.unlink()
        await parts.send(AddEntry(str(index), _drain(stdout)))

    def _added_outputs(self, names: list[str], added: dict[str, AddResult]) -> None:
        for name in names:
            result = self.results[int(name)]
            if name in added:
                result.output_cid, result.output_tsize = added[name].cid, added[name].size
            else:
                result.fail(Outcome.INFRASTRUCTURE, "no output was recorded")
            self.progress(result)


async def _drain(path: Path) -> AsyncIterator[bytes]:
    """The bytes of an output file, removed once read. Plain reads: scratch is tmpfs (see _stage)."""
    try:
        with path.open("rb") as output:
            while chunk := output.read(CHUNK):
                yield chunk
    finally:
        path.unlink(missing_ok=True)
