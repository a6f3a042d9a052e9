"""LocalRun (codsh/jobs/local.py): which remembered outputs one machine's kubo still has (real kubo)."""

from __future__ import annotations

import pytest

from codsh.core.spec import JobSpec
from codsh.core.unixfs import raw_cid
from codsh.ipfs.client import KuboClient, KuboUnavailable
from codsh.jobs.local import LocalRun
from codsh.kubo_daemon import KuboProcess
from tests.conftest import run

SPEC = JobSpec("cat", "bafyunused")


def local_run(ipfs: KuboClient) -> LocalRun:
    return LocalRun(SPEC, ipfs, None, {})  # type: ignore[arg-type]  # no engine: nothing runs


def test_the_outputs_this_kubo_stores_are_available_and_no_other(kubo: KuboProcess) -> None:
    async def go() -> tuple[set[str], list[str], str]:
        async with KuboClient(kubo.api_url) as ipfs:
            blocks = [f"kept output {i}".encode() for i in range(40)]  # past one window
            held = await ipfs.block_put_many(blocks, codec="raw")
            gone = raw_cid(b"an output no kubo here has")
            outputs = {cid: "" for cid in [*held, gone]}
            return await local_run(ipfs).available([], outputs), held, gone

    found, held, gone = run(go)
    assert found == set(held) and gone not in found
    assert run(lambda: local_run(KuboClient(kubo.api_url)).available([], {})) == set()


def test_kubo_gone_while_checking_is_said_and_nothing_runs() -> None:
    async def go() -> set[str]:
        async with KuboClient("http://127.0.0.1:9") as ipfs:  # the discard port: nothing answers
            return await local_run(ipfs).available([], {raw_cid(b"x"): ""})

    with pytest.raises(KuboUnavailable, match="nothing was run") as raised:
        run(go)
    assert "127.0.0.1:9" in str(raised.value)
