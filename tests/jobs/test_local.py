"""LocalRun (codsh/jobs/local.py): which remembered outputs one machine's kubo still has (real kubo)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codsh.core.folders import KeptFolder
from codsh.core.spec import JobSpec
from codsh.core.unixfs import raw_cid
from codsh.ipfs.client import KuboClient, KuboUnavailable
from codsh.jobs.local import LocalRun
from codsh.kubo_daemon import KuboProcess
from tests.conftest import ipfs_cli, run

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


def test_a_kept_folder_whose_output_is_whole_here_needs_no_question_per_output(
    kubo: KuboProcess, tmp_path: Path
) -> None:
    """An offline walk of the folder's output reaches every block: all its outputs are here. A
    block under it gone: its outputs are asked one by one, so the file memo keeps the others."""
    for name in ("whole", "broken"):
        (tmp_path / name).mkdir()
        for i in range(5):
            (tmp_path / name / f"f{i}").write_text(f"{name} output {i}\n")
    added = {}
    for name in ("whole", "broken"):
        out = ipfs_cli(kubo, "add", "-r", "-Q", "--pin=false", "--raw-leaves", str(tmp_path / name))
        root = out.decode().strip()
        leaves = ipfs_cli(kubo, "refs", root).decode().split()
        added[name] = KeptFolder(name, f"in-{name}", root, 1, 1, 5, 0, 5, tuple(leaves))
    gone = added["broken"].outputs[2]
    ipfs_cli(kubo, "block", "rm", gone)
    folders = list(added.values())
    outputs = {cid: "" for folder in folders for cid in folder.outputs}

    async def go() -> tuple[set[str], set[str]]:
        async with KuboClient(kubo.api_url) as ipfs:
            run_here = local_run(ipfs)
            return await run_here._whole(folders), await run_here.available([], outputs, folders)

    whole, found = run(go)
    assert whole == set(added["whole"].outputs)
    assert found == set(outputs) - {gone}
