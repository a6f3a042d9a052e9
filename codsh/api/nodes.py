"""The nodes jobs run on: GET /v1/nodes, and `codsh node list` without an API.

On this machine (no scheduler) one entry, "this machine", with the orchestrator's kubo peer ID;
on a cluster the answers of the inventory round (the round a job starts with), asked through a
short-lived Dask client in a worker thread. The answer is kept a few seconds, so a page that
refreshes does not make every node answer again. Through the API each node also has its tally
from the job store: the files it ran, ok and failed (room for more counts, such as replicas'
votes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from codsh.core.vote import tally
from codsh.errors import ServiceUnavailable
from codsh.ipfs.client import KuboClient
from codsh.jobs.where import Where

if TYPE_CHECKING:
    from codsh.api.app import Api
    from codsh.api.tokens import User

THIS_MACHINE = "this machine"
CACHE_SECONDS = 5.0  # how long an answer is shown again before the nodes are asked anew
ROUND_TIMEOUT = 30.0  # seconds the inventory round may take (a node that hangs fails the round)


@dataclass(frozen=True)
class Node:
    """One node as the API shows it (`address`: its Dask address; empty on this machine)."""

    name: str
    healthy: bool
    labels: dict[str, str] = field(default_factory=dict)
    slots: int = 1
    peer: str = ""
    error: str = ""
    address: str = ""
    tally: dict[str, int] | None = None  # files, ok, failed, agreed, outvoted, disputed (the store)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def tallied(
    nodes: list[Node],
    tallies: dict[str, tuple[int, int]],
    votes: Mapping[str, Mapping[str, int]] | None = None,
) -> list[Node]:
    """`nodes` with their tallies (store.node_tallies: name -> (files run, failed), the results
    they produced; `votes`: core/vote.tally of replicated files: agreed, outvoted, disputed);
    this machine's results carry no node name."""
    with_tally = []
    for node in nodes:
        ran, failed = tallies.get("" if node.name == THIS_MACHINE else node.name, (0, 0))
        voted = (votes or {}).get(node.name, {})
        tally = {"files": ran, "ok": ran - failed, "failed": failed}
        tally |= {key: voted.get(key, 0) for key in ("agreed", "outvoted", "disputed")}
        with_tally.append(replace(node, tally=tally))
    return with_tally


async def this_machine(ipfs_api: str) -> list[Node]:
    """The one node of an orchestrator without a cluster: this machine, its kubo's peer ID."""
    slots = os.cpu_count() or 1  # what a local run uses by default (jobs/local.py)
    try:
        with trio.fail_after(10):
            async with KuboClient(ipfs_api) as ipfs:
                peer = str((await ipfs.id())["ID"])
    except Exception as exc:  # noqa: BLE001 - a sick kubo is shown, not raised
        return [Node(THIS_MACHINE, False, slots=slots, error=str(exc) or type(exc).__name__)]
    return [Node(THIS_MACHINE, True, slots=slots, peer=peer)]


def cluster_nodes(scheduler: str, tls: Path) -> list[Node]:
    """The inventory round on the cluster (blocking: run it in a thread), one Node per worker."""
    from codsh.cluster.execution import connect, worker_names  # imports Dask: only when used
    from codsh.cluster.messages import InventoryAnswer
    from codsh.cluster.node import inventory

    client = connect(scheduler, tls)
    try:
        wire = client.run(inventory, [])
        names = worker_names(client)
    finally:
        client.close()  # type: ignore[no-untyped-call]  # distributed is only partly typed
    nodes = []
    for address, answer in ((a, InventoryAnswer.from_wire(w)) for a, w in wire.items()):
        nodes.append(
            Node(
                names.get(address, address),
                answer.healthy,
                dict(answer.labels),
                answer.slots,
                answer.peer,
                answer.error,
                address,
            )
        )
    return sorted(nodes, key=lambda node: node.name)


async def list_nodes(where: Where, ipfs_api: str) -> list[Node]:
    """The nodes `where` names: this machine, or the cluster's (ServiceUnavailable when the
    scheduler does not answer, or the round takes longer than ROUND_TIMEOUT)."""
    if not where.scheduler:
        return await this_machine(ipfs_api)
    tls = where.checked().tls
    assert tls is not None
    with trio.move_on_after(ROUND_TIMEOUT):
        return await trio.to_thread.run_sync(
            cluster_nodes, where.scheduler, tls, abandon_on_cancel=True
        )
    raise ServiceUnavailable(
        f"the nodes of {where.scheduler} did not answer within {ROUND_TIMEOUT:g}s",
        "see the nodes' worker.log files, or try again",
    )


class NodeCache:
    """The last answer, kept CACHE_SECONDS; concurrent requests share one round."""

    def __init__(self, where: Where, ipfs_api: str, keep: float = CACHE_SECONDS) -> None:
        self.where = where
        self.ipfs_api = ipfs_api
        self.keep = keep
        self._nodes: list[Node] = []
        self._asked = -float("inf")
        self._lock = trio.Lock()

    async def nodes(self) -> tuple[list[Node], float]:
        """The nodes, and how many seconds ago they answered."""
        async with self._lock:
            if trio.current_time() - self._asked > self.keep:
                self._nodes = await list_nodes(self.where, self.ipfs_api)
                self._asked = trio.current_time()
            return self._nodes, trio.current_time() - self._asked


def routes(api: Api) -> list[Route]:
    cache = NodeCache(api.service.where, api.service.ipfs_api)

    async def get_nodes(request: Request, user: User) -> Response:
        nodes, age = await cache.nodes()
        store = api.service.store
        tallies = await trio.to_thread.run_sync(store.node_tallies)
        votes = tally(await trio.to_thread.run_sync(store.votes))
        nodes = tallied(nodes, tallies, votes)
        body = {
            "runs_on": api.service.where.runs_on,
            "age": round(age, 3),
            "nodes": [node.as_dict() for node in nodes],
        }
        return JSONResponse(body)

    return [Route("/v1/nodes", api.authed(get_nodes))]
