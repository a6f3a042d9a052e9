"""The driver's side of commit before reveal (core/commit.py): once every replica of some files has
committed, ask their nodes to open those commitments, in rounds, and have the ballots voted on.

A round is one `client.run` on the nodes concerned: its answers come straight back to this client,
not as task results another worker could fetch. Files that finish while a round is out wait for the
next one, so rounds grow with the load instead of costing one request a file.
"""

from __future__ import annotations

from collections.abc import Mapping

import trio
from distributed import Client

from codsh.cluster.node import open_commitments
from codsh.core.commit import Opening
from codsh.core.model import FileResult
from codsh.core.vote import Ballots
from codsh.errors import ServiceUnavailable

OPEN_WAIT = 60.0  # seconds the nodes get to answer one round


class Reveal:
    """Runs beside a replicated job's shard runs; `finish` when they are over."""

    def __init__(self, client: Client, job: str, names: Mapping[str, str], scheduler: str) -> None:
        self.client = client
        self.job = job
        self.names = dict(names)  # Dask address -> node name
        self.addresses = {name: address for address, name in names.items()}
        self.scheduler = scheduler
        self.ballots: Ballots | None = None
        self._wake = trio.Event()
        self._finished = False

    def poke(self) -> None:
        """Some files' replicas have all committed."""
        self._wake.set()

    def finish(self) -> None:
        """The runs are over: open what is left, and end."""
        self._finished = True
        self._wake.set()

    async def run(self) -> None:
        assert self.ballots is not None
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            last = self._finished
            batch = self.ballots.take_ready(everything=last)
            if batch:
                openings = await self._open(batch)
                for path in batch:
                    self.ballots.decide(path, openings)
            if last:
                return

    async def _open(self, batch: Mapping[str, list[FileResult]]) -> dict[str, dict[str, Opening]]:
        """node name -> commitment -> opening, from the nodes that sent the batch's ballots."""
        sealed = [b for ballots in batch.values() for b in ballots if b.commitment]
        workers = sorted({self.addresses[b.node] for b in sealed if b.node in self.addresses})
        wanted = [b.commitment or "" for b in sealed]
        if not workers:
            return {}

        try:
            with trio.fail_after(OPEN_WAIT):
                wire = await trio.to_thread.run_sync(
                    lambda: self.client.run(
                        open_commitments, self.job, wanted, workers=workers, on_error="return"
                    ),
                    abandon_on_cancel=True,
                )
        except (OSError, TimeoutError, trio.TooSlowError) as exc:
            raise ServiceUnavailable(
                f"lost the codsh scheduler at {self.scheduler} while the nodes opened their "
                f"answers ({exc})",
                "check that it runs, then `codsh job resume JOB` runs the files not decided",
            ) from exc
        openings: dict[str, dict[str, Opening]] = {}
        for address, reply in wire.items():
            if not isinstance(reply, Mapping):  # the node failed to answer: its runs are lost
                continue
            found = {str(c): Opening.from_dict(raw) for c, raw in reply.items()}
            openings[self.names.get(address, address)] = {c: o for c, o in found.items() if o}
        return openings
