"""kubo's `add` as one request that streams both ways (duplex.py), its stall as a codsh error.

kubo answers a line per file while it still reads the body; reading that answer while sending is
what keeps an add of any size from deadlocking with kubo. An add fails (KuboStalled, exit 2) when
kubo takes no byte and sends none for `stall` seconds while we wait on it and then does not answer
a version request either; a kubo that still answers but stays silent ten times that long fails too.
"""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import trio

from codsh.errors import CodshError, InputError
from codsh.ipfs import duplex, multipart
from codsh.ipfs.multipart import AddEntry, Tally
from codsh.ipfs.wire import (
    LOST_HINT,
    START_HINT,
    KuboError,
    KuboStalled,
    KuboUnavailable,
    Lines,
    error_message,
)

STALL_SECONDS = 60.0  # the default of CODSH_KUBO_STALL
Sent = Callable[[int, int], None]  # files and content bytes of an add sent so far
Entries = Iterable[AddEntry] | AsyncIterable[AddEntry]


@dataclass(frozen=True)
class AddResult:
    name: str
    cid: str
    size: int  # cumulative DAG size as kubo reports it


Deliver = Callable[[AddResult], None]


def stall_seconds() -> float:
    """How long an add waits on a kubo that neither reads nor answers: CODSH_KUBO_STALL or 60 s."""
    value = os.environ.get("CODSH_KUBO_STALL", "")
    if not value:
        return STALL_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < math.inf:
        raise InputError(
            f"CODSH_KUBO_STALL={value!r} is not a number of seconds",
            "set it to how long an add may wait on a silent kubo (e.g. 120), or unset it",
        )
    return seconds


@dataclass(frozen=True)
class Kubo:
    """Where the add goes and how long it waits; `probe` asks kubo something else (its version)."""

    api_url: str
    stall: float
    connect_timeout: float
    probe: Callable[[], Awaitable[object]]


async def add(
    kubo: Kubo,
    params: dict[str, str],
    entries: Entries,
    deliver: Deliver,
    on_sent: Sent | None = None,
    linger: float = 0.0,
) -> None:
    """One add request; each result to `deliver` as kubo reports it. `linger`: see duplex.py."""
    boundary = multipart.new_boundary()
    tally = Tally(on_sent)

    def result(item: Any) -> None:
        if "Hash" in item:
            deliver(AddResult(item["Name"], item["Hash"], int(item.get("Size", 0))))

    lines = Lines("add", result)
    try:
        answer = await duplex.post(
            f"{kubo.api_url}/api/v0/add?{urlencode(params)}",
            [("Content-Type", multipart.content_type(boundary))],
            multipart.encode(boundary, entries, tally),
            lines.feed,
            stall=kubo.stall,
            connect_timeout=kubo.connect_timeout,
            probe=kubo.probe,
            linger=linger,
        )
    except duplex.Unreachable as exc:
        raise KuboUnavailable(
            f"kubo does not answer at {kubo.api_url} ({exc})", START_HINT
        ) from exc
    except duplex.Lost as exc:
        message = f"lost the connection to kubo at {kubo.api_url} during add ({exc})"
        raise KuboUnavailable(message, LOST_HINT) from exc
    except duplex.Stalled as exc:
        raise stalled(kubo, exc, tally) from exc
    if answer.status != 200:
        raise KuboError("add", error_message(answer.status, answer.error_body))
    lines.end()
    if error := answer.trailers.get("x-stream-error"):
        raise KuboError("add", error)


def stalled(kubo: Kubo, exc: duplex.Stalled, tally: Tally) -> KuboStalled:
    how = (
        "it answers other requests, but"
        if exc.answering
        else f"it did not answer a version request in {kubo.stall:g}s, and"
    )
    return KuboStalled(
        f"kubo at {kubo.api_url} stopped answering during add: {how} no byte of the add went "
        f"either way for {exc.seconds:.0f}s ({tally.files} files, {tally.bytes} bytes sent)",
        "check the daemon (`ipfs log tail`, its memory), then add again; "
        "CODSH_KUBO_STALL=SECONDS waits longer",
    )


async def stream(
    nursery: trio.Nursery, run: Callable[[Deliver], Awaitable[None]]
) -> AsyncIterator[AddResult]:
    """The results `run(deliver)` delivers, as they come: `run` goes in `nursery` (a generator
    must not hold a nursery across its yields), feeding a channel this generator reads."""
    send, receive = trio.open_memory_channel[AddResult | Exception](math.inf)
    scope = trio.CancelScope()

    async def request() -> None:
        failure: Exception | None = CodshError("the kubo client closed in the middle of an add")
        with send:
            try:
                with scope:
                    await run(send.send_nowait)
                    failure = None
            except Exception as exc:
                failure = exc
            finally:  # an error, or stopped: the reader must not take it for the end
                with suppress(trio.BrokenResourceError):
                    if failure is not None:
                        send.send_nowait(failure)

    nursery.start_soon(request)
    try:
        async with receive:
            async for item in receive:
                if isinstance(item, Exception):
                    raise item
                yield item
    finally:
        scope.cancel()
