"""A local stack with no fuss: N kubo daemons under the codsh data dir, for demos and tests.

The nodes form a private swarm (a swarm key made at the first `up`, LIBP2P_FORCE_PNET=1, no public
bootstrap) and are connected to each other, so bitswap moves blocks between them and nothing else.
`up` is idempotent (running nodes are kept), `down` stops them and keeps their data unless purged.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import trio

from codsh import kubo_daemon
from codsh.config import devstack_dir
from codsh.errors import CodshError
from codsh.ipfs.client import AddResult, KuboClient
from codsh.ipfs.multipart import AddEntry
from codsh.ipfs.sources import read_file_chunks
from codsh.merge import Output, merge_per_file


@dataclass(frozen=True)
class NodeStatus:
    name: str
    repo: Path
    running: bool
    api_url: str | None
    pid: int | None


def node_repo(index: int) -> Path:
    return devstack_dir() / f"node{index}" / "ipfs"


def node_repos() -> list[Path]:
    root = devstack_dir()
    if not root.exists():
        return []
    repos = [
        p / "ipfs" for p in root.iterdir() if p.name.startswith("node") and (p / "ipfs").exists()
    ]
    return sorted(repos, key=lambda p: int(p.parent.name[len("node") :]))


def swarm_key() -> bytes:
    """The devstack's private-network key, made once."""
    path = devstack_dir() / "swarm.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(kubo_daemon.new_swarm_key())
        path.chmod(0o600)
    return path.read_bytes()


def up(nodes: int = 1) -> list[NodeStatus]:
    key = swarm_key()
    statuses = []
    for index in range(nodes):
        repo = node_repo(index)
        proc = kubo_daemon.running(repo) or kubo_daemon.start(repo, swarm_key=key)
        statuses.append(NodeStatus(f"node{index}", repo, True, proc.api_url, proc.pid))
    if nodes > 1:
        trio.run(connect_all, [s.api_url for s in statuses if s.api_url])
    return statuses


async def connect_all(api_urls: list[str]) -> None:
    """Connect every node to every other one (a full mesh: the devstack is small)."""
    addresses = []
    for url in api_urls:
        async with KuboClient(url) as ipfs:
            info = await ipfs.id()
        tcp = [a for a in info["Addresses"] if a.startswith("/ip4/127.0.0.1/tcp/")]
        addresses.append(tcp[0] if tcp else info["Addresses"][0])
    for index, url in enumerate(api_urls):
        async with KuboClient(url) as ipfs:
            for address in addresses[index + 1 :]:
                await ipfs.swarm_connect(address)


def status() -> list[NodeStatus]:
    result = []
    for repo in node_repos():
        proc = kubo_daemon.running(repo)
        result.append(
            NodeStatus(
                repo.parent.name,
                repo,
                proc is not None,
                proc.api_url if proc else None,
                proc.pid if proc else None,
            )
        )
    return result


def down(purge: bool = False) -> list[str]:
    stopped = [repo.parent.name for repo in node_repos() if kubo_daemon.stop(repo)]
    if purge:
        shutil.rmtree(devstack_dir(), ignore_errors=True)
    return stopped


def first_node_repo() -> Path | None:
    """The repo of the first running devstack node, which commands use when no --ipfs is given."""
    for repo in node_repos():
        if kubo_daemon.running(repo):
            return repo
    return None


async def add_spread(path: Path, replicas: int, api_urls: list[str]) -> str:
    """Add a file or tree so that each file is stored (and pinned) on `replicas` nodes only,
    round robin, while its directory nodes are on every node; return the root CID.

    This makes locality real on one machine: a node can list the whole dataset, but holds only
    its share of the bytes.
    """
    if not api_urls:
        raise CodshError(
            "the devstack is not running", "start it with `codsh devstack up --nodes N`"
        )
    top = path.resolve()
    files = _local_files(top)
    directories = sorted(
        {rel.rsplit("/", 1)[0] for rel, _ in files if "/" in rel} | set(_local_dirs(top))
    )
    count = min(max(1, replicas), len(api_urls))
    chosen: dict[int, list[int]] = {node: [] for node in range(len(api_urls))}
    for index in range(len(files)):
        for offset in range(count):
            chosen[(index + offset) % len(api_urls)].append(index)
    added: dict[int, AddResult] = {}

    async def add_on(node: int) -> None:
        if not chosen[node]:
            return
        async with KuboClient(api_urls[node]) as ipfs:
            entries = [AddEntry(str(i), read_file_chunks(files[i][1])) for i in chosen[node]]
            for result in await ipfs.add(entries):
                added[int(result.name)] = result

    async with trio.open_nursery() as nursery:
        for node in chosen:
            nursery.start_soon(add_on, node)
    outputs = [
        Output(rel, added[i].cid, full.stat().st_size, added[i].size)
        for i, (rel, full) in enumerate(files)
    ]
    merged = merge_per_file(outputs, directories)
    for url in api_urls:
        async with KuboClient(url) as ipfs:
            for block in merged.blocks:
                await ipfs.block_put(block.data, codec=block.codec)
                await ipfs.pin_add(block.cid, recursive=False)
    return merged.cid


def _local_files(top: Path) -> list[tuple[str, Path]]:
    """(path relative to `top`, full path) of every file, '' for `top` itself when it is a file."""
    if top.is_file():
        return [("", top)]
    return sorted(
        (p.relative_to(top).as_posix(), p)
        for p in top.rglob("*")
        if p.is_file() and not p.is_symlink()
    )


def _local_dirs(top: Path) -> list[str]:
    if top.is_file():
        return []
    return [p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_dir()]
