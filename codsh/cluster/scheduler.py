"""The cluster's scheduler: a plain Dask scheduler with codsh's defaults (TLS only, loopback or not)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from distributed import Scheduler

from codsh.cluster.tls import security


def serve(tls: Path, address_file: Path, host: str = "127.0.0.1", port: int = 0) -> None:
    """Run until stopped; write {"address", "dashboard"} to `address_file` once listening."""

    async def main() -> None:
        async with Scheduler(
            host=host,
            port=port,
            protocol="tls",
            security=security(tls),
            dashboard_address=f"{host}:0",
        ) as scheduler:
            dashboard = scheduler.services.get("dashboard")
            link = f"http://{host}:{dashboard.port}/status" if dashboard else ""
            info = {"address": scheduler.address, "dashboard": link}
            address_file.write_text(json.dumps(info))
            await scheduler.finished()

    asyncio.run(main())
