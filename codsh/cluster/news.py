"""A shard's per-file messages to the driver, a few at a time.

Each message is a Dask event through the scheduler to the driver's client (~0.3-0.5 ms of their
CPU each); a 30,000-file job sent 30,000. A node now sends what finished in the last EVERY
seconds as one event (at most MOST a message), so progress and the reschedule policy still hear
of a file within EVERY of its output being stored, and the shard's answer repeats them all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from codsh.cluster.messages import Wire, files_done

EVERY = 0.1  # seconds a finished file's message may wait for others
MOST = 200  # messages one event carries
T = TypeVar("T")


class NewsBatch:
    """Collects the shard's messages; `run` (in the shard's nursery) sends them every EVERY
    seconds, `flush` sends what is left (at the shard's end)."""

    def __init__(self, send: Callable[[Wire], None]) -> None:
        self._send = send
        self._pending: list[Wire] = []

    def add(self, message: Wire) -> None:
        self._pending.append(message)
        if len(self._pending) >= MOST:
            self.flush()

    def flush(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            self._send(files_done(batch))

    async def run(self) -> None:
        while True:
            await trio.sleep(EVERY)
            self.flush()


async def reporting(news: NewsBatch, work: Callable[[], Awaitable[T]]) -> T:
    """`work`'s result, with `news` sent as it comes meanwhile and the rest at its end. An error
    of `work` comes out as itself, not in an exception group."""
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(news.run)
            result = await work()
            nursery.cancel_scope.cancel()
        return result
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
    finally:
        news.flush()
