"""A Dask client stuck reconnecting to a restarted scheduler, nudged.

distributed's `Client._reconnect` retries only on OSError. When the restarting scheduler drops a
TLS connection mid-handshake, tornado's `start_tls` raises ValueError ("IOStream is not idle;
cannot convert to SSL"): the loop ends and the client stays "connecting" for ever (seen in CI: a
job waited past its test's 300 s after a scheduler restart). A client connecting for STUCK
seconds gets the same loop run again, that error included, within the client's own timeout;
past it the client is closed, and the job ends with its service error (cluster/tasks.py). An
attempt that hangs holds distributed's own "connecting" flag, and no nudge gets past it (seen
by hand with a listener that resets every connection during the restart): the job then gives
up at GIVE_UP by itself, with the same error, instead of waiting for ever.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
import weakref

from distributed import Client

RECONNECT_TIMEOUT = 120.0  # how long a job waits for a restarted scheduler (the client's timeout)
GIVE_UP = RECONNECT_TIMEOUT + 30.0  # a client not back by then is given up by the job itself
STUCK = 10.0  # seconds a client may be connecting before it is nudged
ATTEMPT = 10.0  # seconds one connection attempt may take

_nudges: weakref.WeakKeyDictionary[Client, concurrent.futures.Future[None]] = (
    weakref.WeakKeyDictionary()
)


def nudge(client: Client) -> None:
    """Retry `client`'s connection on its own loop, unless it is not connecting or a nudge runs."""
    running = _nudges.get(client)
    if client.status != "connecting" or (running is not None and not running.done()):
        return
    loop = getattr(client.loop, "asyncio_loop", None)  # tornado's IOLoop runs on asyncio
    if isinstance(loop, asyncio.AbstractEventLoop):
        _nudges[client] = asyncio.run_coroutine_threadsafe(_connect(client), loop)


async def _connect(client: Client) -> None:
    deadline = time.monotonic() + float(client._timeout)
    while client.status == "connecting" and time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):  # returns at once while another
            # attempt is under way: then look again
            await client._ensure_connected(timeout=min(deadline - time.monotonic(), ATTEMPT))
        await asyncio.sleep(0.2)
    if client.status == "connecting":
        await client._close()
