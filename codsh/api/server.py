"""`codsh serve`: hypercorn's trio worker serving the API, beside the jobs it runs, in one trio run.

The address it listens on is written to `serve.json` in the data dir (with `--bind ...:0` the
port is chosen by the system), so scripts and tests find it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

from codsh.api.app import make_app
from codsh.api.service import Orchestrator
from codsh.api.tokens import TokenStore
from codsh.config import data_dir, jobs_db
from codsh.errors import InputError
from codsh.jobs.store import JobStore
from codsh.jobs.where import Where

log = logging.getLogger("codsh.serve")


@dataclass(frozen=True)
class ServeOptions:
    bind: str  # host:port; loopback unless configured otherwise
    ipfs_api: str  # the orchestrator's own kubo
    where: Where  # where its jobs run
    max_running: int = 8  # jobs at once per user


def tokens_db(home: Path | None = None) -> Path:
    """The tokens of the orchestrator whose data dir is `home` (this one's by default)."""
    return (home or data_dir()) / "tokens.sqlite"


def address_file(home: Path | None = None) -> Path:
    return (home or data_dir()) / "serve.json"


def check_bind(bind: str) -> str:
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--bind {bind!r} is not HOST:PORT", "e.g. 127.0.0.1:8765")
    return bind


async def serve(options: ServeOptions) -> None:
    """Serve until interrupted; running jobs are then recorded as cancelled. The jobs a killed
    orchestrator left running are resumed first, so the API never shows them interrupted."""
    config = Config()
    config.bind = [check_bind(options.bind)]
    config.accesslog = logging.getLogger("codsh.serve.access")
    with JobStore(jobs_db()) as store:
        tokens = TokenStore(tokens_db())
        service = Orchestrator(store, options.ipfs_api, options.where, options.max_running)
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(service.run)
                resumed = await service.resume_interrupted()
                if resumed:
                    log.warning("resumed %d interrupted jobs: %s", len(resumed), " ".join(resumed))
                binds = await nursery.start(hypercorn_serve, make_app(service, tokens), config)
                where = {"api": binds[0], "runs_on": service.where.runs_on}
                address_file().write_text(json.dumps(where))
                log.warning("listening on %s", binds[0])
        finally:
            tokens.close()
            address_file().unlink(missing_ok=True)
