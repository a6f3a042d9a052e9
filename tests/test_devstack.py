"""A 3-node devstack: a private swarm whose members are connected, and datasets spread over it."""

from __future__ import annotations

import os
from pathlib import Path

from codsh import devstack
from codsh.ipfs.client import KuboClient
from codsh.kubo_daemon import KuboProcess
from tests.conftest import ipfs_cli, run


def urls(stack: list[devstack.NodeStatus]) -> list[str]:
    return [node.api_url for node in stack if node.api_url]


def test_nodes_form_a_private_connected_swarm(stack: list[devstack.NodeStatus]) -> None:
    async def peers(url: str) -> int:
        async with KuboClient(url) as ipfs:
            return len(await ipfs.swarm_peers())

    assert [run(peers, url) for url in urls(stack)] == [2, 2, 2]
    key = (Path(os.environ["CODSH_HOME"]) / "devstack" / "swarm.key").read_bytes()
    assert key.startswith(b"/key/swarm/psk/1.0.0/\n/base16/\n") and len(key.split()[-1]) == 64
    assert all((node.repo / "swarm.key").read_bytes() == key for node in stack)
    assert devstack.up(3) == stack  # idempotent: the same daemons


def test_spread_once_each_file_is_held_by_one_node(
    stack: list[devstack.NodeStatus], tmp_path: Path
) -> None:
    for index in range(7):
        (tmp_path / "data" / f"d{index % 2}").mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / f"d{index % 2}" / f"f{index}").write_text(f"file {index}\n" * 50)
    (tmp_path / "data" / "empty").mkdir()
    root = run(devstack.add_spread, tmp_path / "data", 1, urls(stack))

    async def held(url: str) -> tuple[list[str], list[str]]:
        async with KuboClient(url) as ipfs:
            entries = [e async for e in ipfs.walk(root)]  # every node lists the whole dataset
            mine = [e.path for e in entries if not e.is_dir and await ipfs.has_block(e.cid)]
            return [e.path for e in entries], mine

    listings = [run(held, url) for url in urls(stack)]
    assert all(listing == listings[0][0] for listing, _ in listings)
    assert "empty" in listings[0][0]
    holdings = [mine for _, mine in listings]
    assert sorted(p for mine in holdings for p in mine) == sorted(
        f"d{i % 2}/f{i}" for i in range(7)
    )
    assert all(2 <= len(mine) <= 3 for mine in holdings)
    # the same root `ipfs add -r` computes with codsh's canonical settings
    node0 = KuboProcess(stack[0].repo, 0, "")
    args = ("add", "-Q", "-r", "-n", "--cid-version=1", "--raw-leaves", str(tmp_path / "data"))
    assert root == ipfs_cli(node0, *args).decode().strip()


def test_a_node_fetches_what_it_lacks_over_bitswap(
    stack: list[devstack.NodeStatus], tmp_path: Path
) -> None:
    (tmp_path / "one").write_bytes(b"only on one node\n")
    cid = run(devstack.add_spread, tmp_path / "one", 1, urls(stack))

    async def read(url: str) -> tuple[bool, bytes, bool]:
        async with KuboClient(url) as ipfs:
            before = await ipfs.has_block(cid)
            data = b"".join([chunk async for chunk in ipfs.cat(cid)])
            return before, data, await ipfs.has_block(cid)

    results = [run(read, url, deadline=60) for url in urls(stack)]
    assert [before for before, _, _ in results].count(True) == 1
    assert all(data == b"only on one node\n" and after for _, data, after in results)
