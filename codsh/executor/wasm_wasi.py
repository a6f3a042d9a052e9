"""codsh's WASI preview 1: wasmtime's, with the entropy and clock calls replaced by deterministic
ones (codsh/core/determinism.py says what a module sees and why).

The host functions are defined once per engine in its linker, store-independent; each run's
random stream and clock live in a thread-local set around the run (wasmtime calls host functions
on the thread that runs the module, and a run never leaves its thread).
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import wasmtime

from codsh.core.determinism import (
    EVENT_CLOCK,
    EVENT_FD_READ,
    EVENT_FD_WRITE,
    Event,
    RandomStream,
    Subscription,
    VirtualClock,
)

WASI = "wasi_snapshot_preview1"
EFAULT = 21  # a pointer outside the module's memory
EINVAL = 28
U32 = 0xFFFFFFFF  # i32 arguments arrive signed; pointers and lengths are unsigned
U64 = (1 << 64) - 1
WRITE_PIECE = 1 << 20  # bytes of random data written to memory at a time
SUBSCRIPTION = struct.Struct("<QB7xI4xQQH6x")  # userdata, tag, clock id or fd, timeout, _, flags
EVENT = struct.Struct("<QHB5xQH6x")  # userdata, error, type, nbytes, flags
MAX_SUBSCRIPTIONS = 4096


@dataclass
class RunState:
    """One run's view of the world: its random stream and its clock."""

    random: RandomStream
    clock: VirtualClock = field(default_factory=VirtualClock)


_local = threading.local()


@contextmanager
def deterministic(seed: bytes) -> Iterator[RunState]:
    """The random stream and clock of a run on this thread, for as long as it runs."""
    state = RunState(RandomStream(seed))
    _local.state = state
    try:
        yield state
    finally:
        _local.state = None


def _state() -> RunState:
    state: RunState | None = getattr(_local, "state", None)
    if state is None:  # a bug: run_module always sets one
        raise RuntimeError("a WASI call outside a codsh run")
    return state


def make_linker(engine: wasmtime.Engine) -> wasmtime.Linker:
    """wasmtime's WASI preview 1, random_get and the clocks shadowed by codsh's."""
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    linker.allow_shadowing = True
    kinds = {"i": wasmtime.ValType.i32(), "I": wasmtime.ValType.i64()}
    calls: dict[str, tuple[str, Callable[..., int]]] = {
        "random_get": ("ii", _random_get),
        "clock_time_get": ("iIi", _clock_time_get),
        "clock_res_get": ("ii", _clock_res_get),
        "poll_oneoff": ("iiii", _poll_oneoff),
    }
    for name, (params, func) in calls.items():
        signature = wasmtime.FuncType([kinds[p] for p in params], [wasmtime.ValType.i32()])
        linker.define_func(WASI, name, signature, _guarded(func), access_caller=True)
    return linker


def _guarded(func: Callable[..., int]) -> Callable[..., int]:
    """`func` answering EFAULT when the module passed a pointer outside its memory."""

    def call(caller: wasmtime.Caller, *args: int) -> int:
        memory = caller.get("memory")
        if not isinstance(memory, wasmtime.Memory):
            return EFAULT
        try:
            return func(caller, memory, *args)
        except IndexError:
            return EFAULT

    return call


def _span(caller: wasmtime.Caller, memory: wasmtime.Memory, pointer: int, size: int) -> int:
    """`pointer` as an unsigned offset, checked to have `size` bytes of memory after it."""
    pointer &= U32
    if pointer + size > memory.data_len(caller):
        raise IndexError(pointer)
    return pointer


def _random_get(caller: wasmtime.Caller, memory: wasmtime.Memory, buf: int, size: int) -> int:
    size &= U32
    start = _span(caller, memory, buf, size)
    stream = _state().random
    for offset in range(0, size, WRITE_PIECE):
        memory.write(caller, stream.read(min(WRITE_PIECE, size - offset)), start + offset)
    return 0


def _clock_time_get(
    caller: wasmtime.Caller, memory: wasmtime.Memory, clock_id: int, _precision: int, out: int
) -> int:
    start = _span(caller, memory, out, 8)
    value = _state().clock.read(clock_id & U32)
    if value is None:
        return EINVAL
    memory.write(caller, value.to_bytes(8, "little"), start)
    return 0


def _clock_res_get(
    caller: wasmtime.Caller, memory: wasmtime.Memory, clock_id: int, out: int
) -> int:
    start = _span(caller, memory, out, 8)
    value = VirtualClock.resolution(clock_id & U32)
    if value is None:
        return EINVAL
    memory.write(caller, value.to_bytes(8, "little"), start)
    return 0


def _poll_oneoff(
    caller: wasmtime.Caller, memory: wasmtime.Memory, subs: int, out: int, count: int, nout: int
) -> int:
    """Waits for nothing: sleeps pass on the virtual clock, fds are ready (core/determinism)."""
    count &= U32
    if count == 0 or count > MAX_SUBSCRIPTIONS:
        return EINVAL
    start = _span(caller, memory, subs, count * SUBSCRIPTION.size)
    raw = memory.read(caller, start, start + count * SUBSCRIPTION.size)
    subscriptions = []
    for userdata, tag, ident, timeout, _precision, flags in SUBSCRIPTION.iter_unpack(raw):
        if tag not in (EVENT_CLOCK, EVENT_FD_READ, EVENT_FD_WRITE):
            return EINVAL
        subscriptions.append(Subscription(userdata, tag, ident, timeout, flags))
    events_at = _span(caller, memory, out, count * EVENT.size)
    count_at = _span(caller, memory, nout, 4)
    events: list[Event] = _state().clock.poll(subscriptions)
    data = b"".join(EVENT.pack(e.userdata, e.error, e.kind, 0, 0) for e in events)
    if data:
        memory.write(caller, data, events_at)
    memory.write(caller, len(events).to_bytes(4, "little"), count_at)
    return 0
