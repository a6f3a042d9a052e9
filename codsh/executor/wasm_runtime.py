"""Run a WASI preview 1 module once, bounded and deterministic: one file on stdin, stdout captured.

Deterministic, so replicas agree byte for byte, without crippling the toolchains: random_get is a
stream seeded from the job spec and the input file's CID, and the clocks are virtual (a fixed
epoch that moves only as the module reads it or sleeps; codsh/core/determinism.py, wasm_wasi.py).
The module gets no environment, no argument but a program name, no preopened directory (a preopen
would show host mtimes and inode numbers) and no network (WASI p1 has none); stdin and stdout are
streams with no host metadata; NaN bits and relaxed SIMD are canonical and threads are off.

Bounded: fuel (about one unit per instruction) bounds CPU deterministically; an epoch deadline,
advanced by a background thread, bounds wall-clock time; the store caps linear memory; stdout and
stderr are capped as they are written, so a module cannot fill the scratch tmpfs.

A module is compiled and pre-linked once per engine (cached); each run gets a fresh store.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import math
import os
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from codsh import config
from codsh.core.model import Outcome, exit_error, output_error, timeout_error
from codsh.core.spec import DEFAULT_FUEL, Limits
from codsh.errors import InputError
from codsh.executor.wasm_wasi import deterministic, make_linker

__all__ = [
    "CompiledModule",
    "WasmLimits",
    "WasmRun",
    "compile_module",
    "make_engine",
    "run_module",
    "shared_engine",
]

PAGE = 65536
EPOCH_TICK = 0.01  # seconds between epoch increments: the granularity of the wall-clock timeout
MODULES_PER_ENGINE = 16  # compiled modules cached per engine (compiled code can be megabytes)
PROGRAM_NAME = "main.wasm"  # argv[0], the only argument a module gets
TABLE_ELEMENTS = 1_000_000  # 8 bytes each: tables are not counted in the memory limit


@dataclass(frozen=True)
class WasmLimits:
    """Per-file bounds. Fuel bounds CPU deterministically; the timeout bounds wall-clock time too,
    which covers host calls that burn no fuel."""

    fuel: int = DEFAULT_FUEL
    memory: int = 512 * 1024 * 1024  # bytes of linear memory
    timeout: float = 300.0  # seconds
    output: int = 4 * 1024**3  # bytes of stdout kept
    stderr: int = 64 * 1024  # bytes of stderr kept

    @classmethod
    def from_limits(cls, limits: Limits, fuel: int = DEFAULT_FUEL) -> WasmLimits:
        """The job's Docker-style limits, read for a module (cpus and pids do not apply)."""
        return cls(fuel, limits.memory, limits.timeout, limits.output, limits.stderr)


@dataclass(frozen=True)
class WasmRun:
    """One run of a module. `exit_code` is proc_exit's code (0 when _start returns), None when the
    module trapped or was stopped; `error` is None exactly when it exited 0 with its whole output."""

    exit_code: int | None
    fuel_used: int  # exact, except after a timeout: wasmtime may not have counted the last stretch
    seconds: float
    output_size: int  # bytes of stdout kept
    memory: int  # bytes of linear memory at the end
    failures: tuple[tuple[Outcome, str], ...] = ()  # empty exactly when it exited 0, whole output

    @property
    def error(self) -> str | None:
        return "; ".join(message for _, message in self.failures) or None


@dataclass(frozen=True)
class CompiledModule:
    """A module compiled for one engine and pre-linked against codsh's WASI."""

    digest: str  # sha256 of the .wasm bytes
    module: wasmtime.Module
    pre: wasmtime.InstancePre
    min_memory: int  # bytes of memory the module starts with


class _EpochTicker:
    """One daemon thread advancing the epoch of every live engine: epoch deadlines then stop a
    module that outlives its timeout. It ends when no engine is left."""

    def __init__(self) -> None:
        self._engines: weakref.WeakSet[wasmtime.Engine] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._running = False

    def add(self, engine: wasmtime.Engine) -> None:
        with self._lock:
            self._engines.add(engine)
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="codsh-wasm-epoch", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(EPOCH_TICK)
            with self._lock:
                engines = list(self._engines)
                if not engines:
                    self._running = False
                    return
            for engine in engines:
                engine.increment_epoch()


_ticker = _EpochTicker()
_cache_lock = threading.Lock()
_compiled: weakref.WeakKeyDictionary[wasmtime.Engine, OrderedDict[str, CompiledModule]] = (
    weakref.WeakKeyDictionary()
)
_linkers: weakref.WeakKeyDictionary[wasmtime.Engine, wasmtime.Linker] = weakref.WeakKeyDictionary()


def make_engine() -> wasmtime.Engine:
    """An engine with fuel, epoch interruption and deterministic floats; its epoch ticks."""
    settings = wasmtime.Config()
    settings.consume_fuel = True
    settings.epoch_interruption = True
    settings.cranelift_nan_canonicalization = True  # the same NaN bits on every CPU
    settings.wasm_relaxed_simd_deterministic = True
    settings.wasm_threads = False  # shared memory would make results depend on scheduling
    if cache := _code_cache():
        with contextlib.suppress(wasmtime.WasmtimeError):  # else compiled each time
            settings.cache = cache
    engine = wasmtime.Engine(settings)
    _ticker.add(engine)
    return engine


def _code_cache() -> str | None:
    """wasmtime's cache of compiled code, under the data dir (its TOML settings file): a Go module
    (~3 MB) takes 3-10 s to compile and ~0.1 s to load from it, in every process (a node, a restart).
    It is keyed by the module and the engine's settings and version. None if it cannot be made:
    then modules are compiled each time, nothing else changes."""
    directory = config.data_dir() / "wasm-cache"
    settings = directory / "cache.toml"
    text = f'[cache]\ndirectory = {json.dumps(str(directory / "code"))}\nfiles-total-size-soft-limit = "1Gi"\n'
    try:
        if not settings.is_file() or settings.read_text() != text:
            directory.mkdir(parents=True, exist_ok=True)
            partial = directory / f".cache.toml.{os.getpid()}"
            partial.write_text(text)
            partial.replace(settings)  # whole, for the other processes that read it
    except OSError:
        return None
    return str(settings)


@functools.cache
def shared_engine() -> wasmtime.Engine:
    return make_engine()


def _linker(engine: wasmtime.Engine) -> wasmtime.Linker:
    """The engine's linker: codsh's WASI (wasm_wasi), made once per engine."""
    linker = _linkers.get(engine)
    if linker is None:
        linker = _linkers[engine] = make_linker(engine)
    return linker


def compile_module(wasm: bytes, engine: wasmtime.Engine | None = None) -> CompiledModule:
    """Compile and check `wasm` once per engine (later calls hit a cache); InputError if unusable."""
    engine = engine or shared_engine()
    digest = hashlib.sha256(wasm).hexdigest()
    with _cache_lock:
        cache = _compiled.setdefault(engine, OrderedDict())
        if digest in cache:
            cache.move_to_end(digest)
            return cache[digest]
        compiled = _compile(wasm, engine, digest)  # under the lock: a module is compiled once
        cache[digest] = compiled
        while len(cache) > MODULES_PER_ENGINE:
            cache.popitem(last=False)
        return compiled


def _compile(wasm: bytes, engine: wasmtime.Engine, digest: str) -> CompiledModule:
    hint = "give a WASI preview 1 command module, e.g. built with --target wasm32-wasip1"
    if not wasm.startswith(b"\0asm"):
        raise InputError("the module is not WebAssembly (it does not start with \\0asm)", hint)
    try:
        module = wasmtime.Module(engine, wasm)
    except wasmtime.WasmtimeError as exc:
        raise InputError(f"the module does not compile: {_cause(exc)}", hint) from exc
    exports = {export.name: export.type for export in module.exports}
    if not isinstance(exports.get("_start"), wasmtime.FuncType):
        raise InputError("the module exports no _start function: it is not a WASI command", hint)
    try:
        pre = _linker(engine).instantiate_pre(module)
    except wasmtime.WasmtimeError as exc:
        raise InputError(
            f"the module needs an import codsh does not provide: {_cause(exc)}",
            "a module may import only wasi_snapshot_preview1 functions",
        ) from exc
    memory = sum(
        t.limits.min * PAGE for t in exports.values() if isinstance(t, wasmtime.MemoryType)
    )
    return CompiledModule(digest, module, pre, memory)


class _CappedSink:
    """Takes a WASI stream's writes into a file, keeping at most `limit` bytes. Past it, a stdout
    write fails with EPIPE (the module usually stops, as a command whose reader left) and stderr
    writes are dropped. A write never fills the scratch tmpfs past the limit."""

    def __init__(self, path: Path, limit: int, refuse_past_limit: bool) -> None:
        self._file = path.open("wb")
        self._limit = limit
        self._refuse = refuse_past_limit
        self.kept = 0
        self.overflow = False
        self.failure: str | None = None

    def write(self, data: bytes) -> int | None:
        room = self._limit - self.kept
        try:
            self._file.write(data[: max(room, 0)])
        except OSError as exc:  # e.g. the scratch tmpfs is full
            self.failure = f"could not keep the output in scratch ({exc})"
            return -errno.EIO
        self.kept += min(len(data), max(room, 0))
        if len(data) <= room:
            return None  # all written
        self.overflow = True
        return -errno.EPIPE if self._refuse else None

    def close(self) -> None:
        self._file.close()


def run_module(
    module: CompiledModule | bytes,
    engine: wasmtime.Engine | None,
    stdin_path: Path,
    stdout_path: Path,
    stderr_path: Path,
    limits: WasmLimits = WasmLimits(),
    seed: bytes = b"",
) -> WasmRun:
    """Run `module` once, blocking: stdin from `stdin_path`, stdout and stderr into files (capped).

    `engine` must come from make_engine() (None: the shared one) and be the one `module` was
    compiled for; `seed` seeds random_get (core/determinism.file_seed). Every outcome, trap or
    limit included, is a WasmRun, never an exception.
    """
    engine = engine or shared_engine()
    compiled = module if isinstance(module, CompiledModule) else compile_module(module, engine)
    store = wasmtime.Store(engine)
    store.set_limits(limits.memory, TABLE_ELEMENTS, instances=1, tables=4, memories=1)
    store.set_fuel(limits.fuel)
    store.set_epoch_deadline(math.ceil(limits.timeout / EPOCH_TICK) + 1)
    stdout = _CappedSink(stdout_path, limits.output, refuse_past_limit=True)
    stderr = _CappedSink(stderr_path, limits.stderr, refuse_past_limit=False)
    wasi = wasmtime.WasiConfig()
    wasi.argv = [PROGRAM_NAME]
    wasi.stdin_file = str(stdin_path)
    wasi.stdout_custom = stdout.write
    wasi.stderr_custom = stderr.write
    store.set_wasi(wasi)
    started = time.monotonic()
    try:
        with deterministic(seed):
            outcome = _start(compiled, store)
    finally:
        stdout.close()
        stderr.close()
    seconds = round(time.monotonic() - started, 4)
    fuel_used = limits.fuel - store.get_fuel()
    exit_code, trap, memory = outcome.exit_code, outcome.trap, outcome.memory
    store.close()
    failures: list[tuple[Outcome, str]] = []
    if trap is wasmtime.TrapCode.OUT_OF_FUEL:  # a CPU bound, like a timeout: not in the memo
        failures.append(
            (
                Outcome.TIMED_OUT,
                f"out of fuel after {fuel_used} units: the module ran longer than --fuel allows; raise it",
            )
        )
    elif trap is wasmtime.TrapCode.INTERRUPT:
        failures.append(
            (Outcome.TIMED_OUT, timeout_error(limits.timeout, "the module was stopped"))
        )
    else:
        if exit_code != 0 and (note := _memory_note(compiled, memory, limits.memory)):
            failures.append((Outcome.OUT_OF_MEMORY, note))
        if exit_code is None:
            failures.append((Outcome.CRASHED, outcome.failure))
        elif exit_code != 0:
            failures.append((Outcome.EXITED, exit_error(exit_code)))
    failures += [(Outcome.INFRASTRUCTURE, s.failure) for s in (stdout, stderr) if s.failure]
    if stdout.overflow:
        failures.append((Outcome.OUTPUT_CUT, output_error(limits.output)))
    return WasmRun(exit_code, fuel_used, seconds, stdout.kept, memory, tuple(failures))


@dataclass
class _Outcome:
    exit_code: int | None = None
    trap: wasmtime.TrapCode | None = None
    failure: str = ""
    memory: int = 0  # bytes of linear memory at the end


def _start(compiled: CompiledModule, store: wasmtime.Store) -> _Outcome:
    """Instantiate and run _start; what happened, whatever it was."""
    outcome = _Outcome()
    instance: wasmtime.Instance | None = None
    try:
        instance = compiled.pre.instantiate(store)
        exports = instance.exports(store)
        start, memory = exports["_start"], exports.get("memory")
        assert isinstance(start, wasmtime.Func)  # checked when compiled
        try:
            start(store)
        finally:
            if isinstance(memory, wasmtime.Memory):
                outcome.memory = memory.data_len(store)
        outcome.exit_code = 0
    except wasmtime.ExitTrap as exc:
        outcome.exit_code = exc.code
    except wasmtime.Trap as exc:
        outcome.trap, outcome.failure = exc.trap_code, f"trap: {_cause(exc)}"
    except wasmtime.WasmtimeError as exc:  # e.g. a host call refused the module's arguments
        where = "error" if instance is not None else "could not start the module"
        outcome.failure = f"{where}: {_cause(exc)}"
    return outcome


def _memory_note(compiled: CompiledModule, memory: int, limit: int) -> str:
    """Why a failed run may have failed: wasm has no out-of-memory trap, memory.grow just returns
    -1 past the limit and the module then aborts, so the failure is read from how full memory is."""
    if compiled.min_memory > limit:
        return f"memory limit exceeded: the module starts with {compiled.min_memory} bytes of memory, more than the {limit} allowed (raise --memory)"
    if memory + PAGE > limit:
        return f"memory limit exceeded: linear memory reached {memory} of the {limit} bytes allowed (raise --memory)"
    return ""


def _cause(exc: Exception) -> str:
    """The reason in a wasmtime error, without its wasm backtrace."""
    text = str(exc)
    if "Caused by:" in text:
        text = text.split("Caused by:", 1)[1]
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0].removeprefix("wasm trap: ") if lines else type(exc).__name__
