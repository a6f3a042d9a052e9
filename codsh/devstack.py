"""A local stack with no fuss: N kubo daemons under the codsh data dir, for demos and tests.

`up` is idempotent (running nodes are kept), `down` stops them and keeps their data unless purged.
The cluster issue grows this into a private swarm with a Dask scheduler and codsh nodes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from codsh import kubo_daemon
from codsh.config import devstack_dir


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


def up(nodes: int = 1) -> list[NodeStatus]:
    statuses = []
    for index in range(nodes):
        repo = node_repo(index)
        proc = kubo_daemon.running(repo) or kubo_daemon.start(repo)
        statuses.append(NodeStatus(f"node{index}", repo, True, proc.api_url, proc.pid))
    return statuses


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
