"""Entropy and time for WASM modules that are the same on every replica. Pure logic.

Toolchains need randomness and a clock even for programs that use neither (Rust's HashMap seeds
itself, Go's runtime reads random_get and the clock before main), so denying them breaks ordinary
programs. Instead a module gets:

- randomness: a stream seeded from the job spec and the input file's CID. Replicas of one file
  (same spec, same CID) see the same bytes and agree; another file gets another stream. The seed
  covers a subset of what the memo key covers (core/memo.py), so a remembered result is what a
  fresh run would give. It leaves out options that only decide whether a run finishes or where it
  runs (limits, replicas, accepted exit statuses): raising --fuel or --replicas does not change a
  module's output.
- a virtual clock: both wall and monotonic time start at EPOCH_NS (2000-01-01T00:00:00Z) and move
  only when the module acts: TICK_NS per clock read (time never stands still, so elapsed times are
  not zero and a loop that waits for time to pass ends) and by exactly what it asks to sleep
  (poll_oneoff returns at once). The number of reads and sleeps is a function of the module and its
  input, so the times it sees are too. A constant clock would hang such loops; real time would make
  replicas disagree.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from codsh.core.memo import NOT_IN_KEY
from codsh.core.spec import JobSpec, canonical_json

SEED_VERSION = 1  # bump only knowingly: every module that uses randomness changes its output
# Spec fields that never change a module's output. The seed must stay a function of the memo key,
# so the memo's NOT_IN_KEY is left out too. Every other field, a later one included, is in it.
NOT_IN_SEED = NOT_IN_KEY | {"limits", "replicas", "ok_exit", "verify"}

BLOCK = 4096  # bytes of the random stream made at a time
EPOCH_NS = 946_684_800 * 10**9  # 2000-01-01T00:00:00Z in nanoseconds since the Unix epoch
TICK_NS = 1_000  # virtual nanoseconds a clock read takes
RESOLUTION_NS = 1_000  # what clock_res_get says (the tick)
U64 = (1 << 64) - 1
REALTIME, MONOTONIC, PROCESS_CPUTIME, THREAD_CPUTIME = 0, 1, 2, 3  # WASI clock ids
# What each clock reads at virtual time 0: wall and monotonic time share one value (both start at
# the epoch; a zero monotonic time is taken as unset by some runtimes, Go's among them); CPU time
# clocks count from the start of the run.
CLOCK_BASE = {REALTIME: EPOCH_NS, MONOTONIC: EPOCH_NS, PROCESS_CPUTIME: 0, THREAD_CPUTIME: 0}
EVENT_CLOCK, EVENT_FD_READ, EVENT_FD_WRITE = 0, 1, 2  # WASI eventtype
ABSTIME = 1  # subclockflags: the timeout is a time on that clock, not a delay
ERRNO_INVAL = 28


def job_seed(spec: JobSpec) -> bytes:
    """The part of every file's seed that comes from the spec: 32 bytes, computed once per job.
    Fields at their default are left out, so a field added to the spec later does not change the
    output of the modules that ran before it."""
    defaults = _defaults()
    fields = {
        k: v
        for k, v in asdict(spec).items()
        if k not in NOT_IN_SEED and (k not in defaults or v != defaults[k])
    }
    if spec.image_digest:
        fields.pop("image", None)  # by content, as in the memo key
    text = canonical_json({"v": SEED_VERSION, "spec": fields})
    return hashlib.sha256(text.encode()).digest()


def _defaults() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for f in dataclasses.fields(JobSpec):
        if f.default is not dataclasses.MISSING:
            found[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            found[f.name] = f.default_factory()
    return found


def file_seed(job: bytes, input_cid: str) -> bytes:
    """The seed of one file's random stream: the job's seed with the input file's CID."""
    return hashlib.blake2b(input_cid.encode(), key=job, digest_size=32).digest()


class RandomStream:
    """A deterministic byte stream: block k is the first BLOCK bytes of SHAKE-256(seed || k as
    8 bytes little-endian), and reads take the blocks' bytes in order, whatever their sizes."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._block = 0
        self._buffer = b""

    def read(self, size: int) -> bytes:
        parts: list[bytes] = []
        while size > 0:
            if not self._buffer:
                data = self._seed + self._block.to_bytes(8, "little")
                self._buffer = hashlib.shake_256(data).digest(BLOCK)
                self._block += 1
            part, self._buffer = self._buffer[:size], self._buffer[size:]
            parts.append(part)
            size -= len(part)
        return b"".join(parts)


@dataclass(frozen=True)
class Subscription:
    """One poll_oneoff subscription: a clock (id, timeout, flags) or an fd (read or write)."""

    userdata: int
    kind: int  # EVENT_CLOCK, EVENT_FD_READ or EVENT_FD_WRITE
    clock_id: int = 0  # the clock, or the fd for an fd subscription
    timeout: int = 0
    flags: int = 0


@dataclass(frozen=True)
class Event:
    userdata: int
    kind: int
    error: int = 0


class VirtualClock:
    """The time a module sees (see the module docstring): `elapsed` virtual nanoseconds."""

    def __init__(self) -> None:
        self.elapsed = 0

    def read(self, clock_id: int) -> int | None:
        """The clock's time in nanoseconds, then one tick passes; None for an unknown clock."""
        if clock_id not in CLOCK_BASE:
            return None
        value = min(CLOCK_BASE[clock_id] + self.elapsed, U64)
        self.elapsed += TICK_NS
        return value

    @staticmethod
    def resolution(clock_id: int) -> int | None:
        return RESOLUTION_NS if clock_id in CLOCK_BASE else None

    def poll(self, subscriptions: list[Subscription]) -> list[Event]:
        """What poll_oneoff reports, at once: an fd is always ready (stdin is a file, stdout takes
        every write), so with any fd subscription no time passes; otherwise time jumps to the
        earliest clock deadline. The clocks due by then fire; an unknown clock is an EINVAL event."""
        events = [Event(s.userdata, s.kind, ERRNO_INVAL) for s in subscriptions if _bad(s)]
        clocks = [s for s in subscriptions if s.kind == EVENT_CLOCK and not _bad(s)]
        fds = [s for s in subscriptions if s.kind != EVENT_CLOCK]
        deadlines = [(self._deadline(s), s) for s in clocks]
        if not fds and not events and deadlines:
            self.elapsed = max(self.elapsed, min(d for d, _ in deadlines))
        events += [Event(s.userdata, s.kind) for s in fds]
        events += [Event(s.userdata, s.kind) for d, s in deadlines if d <= self.elapsed]
        return events

    def _deadline(self, sub: Subscription) -> int:
        """When `sub` fires, in virtual elapsed nanoseconds."""
        if sub.flags & ABSTIME:
            return sub.timeout - CLOCK_BASE[sub.clock_id]
        return self.elapsed + sub.timeout


def _bad(sub: Subscription) -> bool:
    return sub.kind == EVENT_CLOCK and sub.clock_id not in CLOCK_BASE
