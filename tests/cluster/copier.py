"""A test-only worker plugin: the node it is installed on never runs a file; it copies another
node's answer instead, read from the scheduler's event log (where every node's per-file messages
go, and which any Dask client, a worker's included, can read), as a lazy node that wants to be paid
would. Pickled by value (tests/ is not importable on the nodes).
"""

from __future__ import annotations

import time
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

PLUGIN_NAME = "codsh-test-copier"
WAIT = 90.0  # seconds to wait for an honest node's message about a file


class Copier(WorkerPlugin):
    name = PLUGIN_NAME

    def __init__(self, node: str) -> None:
        self.node = node
        self.original: Any = None

    def setup(self, worker: Any) -> None:
        if worker.name != self.node:
            return
        import codsh.cluster.node as node_module

        self.original = node_module._run_shard
        address = worker.address

        async def copying(plugin: Any, spec: Any, shard: Any, job: str, key: str, send: Any) -> Any:
            from distributed import get_client

            from codsh.cluster.messages import news_of

            client = get_client()
            copied = []
            for file in shard.files:
                deadline = time.monotonic() + WAIT
                found = None
                while found is None and time.monotonic() < deadline:
                    for events in client.get_events().values():
                        for _, message in events:  # one file's message, or several
                            for done in news_of(message):
                                if (
                                    done.job == job
                                    and done.node != address
                                    and done.result.path == file.path
                                ):
                                    found = done.result
                    if found is None:
                        time.sleep(0.2)
                if found is not None:
                    send(found)
                    copied.append(found)
            return copied, None, None

        node_module._run_shard = copying

    def teardown(self, worker: Any) -> None:
        if self.original is not None:
            import codsh.cluster.node as node_module

            node_module._run_shard = self.original
