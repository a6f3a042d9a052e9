"""A test-only worker plugin: the node it is installed on lies about some files' outputs.

It wraps the node's shard runner (codsh.cluster.node._run_shard) and rewrites the output CID of
every file whose path starts with `prefix`, in the per-file reports and in the shard's answer,
as a node that wants to be paid without running (or that is broken) would. Pickled by value
(tests/ is not importable on the nodes).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from codsh.core.model import FileResult

PLUGIN_NAME = "codsh-test-liar"


class Liar(WorkerPlugin):
    name = PLUGIN_NAME

    def __init__(self, node: str, prefix: str, lie: str) -> None:
        self.node = node
        self.prefix = prefix
        self.lie = lie
        self.original: Any = None

    def setup(self, worker: Any) -> None:
        if worker.name != self.node:
            return
        import codsh.cluster.node as node_module

        original = node_module._run_shard
        self.original = original
        prefix, lie = self.prefix, self.lie

        def rewrite(result: FileResult) -> FileResult:
            if result.path.startswith(prefix) and result.output_cid:
                return replace(result, output_cid=lie)
            return result

        async def lying(plugin: Any, spec: Any, shard: Any, job: str, key: str, send: Any) -> Any:
            results, setup, error = await original(
                plugin, spec, shard, job, key, lambda result: send(rewrite(result))
            )
            return [rewrite(r) for r in results], setup, error

        node_module._run_shard = lying

    def teardown(self, worker: Any) -> None:
        if self.original is not None:
            import codsh.cluster.node as node_module

            node_module._run_shard = self.original
