"""Start and stop local kubo daemons with their own repo: for the devstack and for tests.

Each daemon gets the `test` profile (random free ports on 127.0.0.1, no public bootstrap, no mDNS),
so several run side by side and none talks to the public network. Given a swarm key, a repo joins a
private network (LIBP2P_FORCE_PNET=1): its daemon only ever talks to peers holding the same key.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from codsh.config import kubo_binary
from codsh.errors import ServiceUnavailable
from codsh.ipfs.address import read_api_file
from codsh.processes import pid_alive, spawn, stop_pid


@dataclass(frozen=True)
class KuboProcess:
    repo: Path
    pid: int
    api_url: str


def _env(repo: Path) -> dict[str, str]:
    env = {**os.environ, "IPFS_PATH": str(repo)}
    if (repo / "swarm.key").exists():
        env["LIBP2P_FORCE_PNET"] = "1"  # refuse to start rather than join the public network
    return env


def new_swarm_key() -> bytes:
    return b"/key/swarm/psk/1.0.0/\n/base16/\n" + os.urandom(32).hex().encode() + b"\n"


def init_repo(repo: Path, swarm_key: bytes | None = None) -> None:
    """Create a repo once; later calls leave it (and its data) alone."""
    if (repo / "config").exists():
        return
    repo.mkdir(parents=True, exist_ok=True)
    if swarm_key:
        (repo / "swarm.key").write_bytes(swarm_key)
    run = [kubo_binary(), "init", "--profile=test", "--empty-repo"]
    subprocess.run(run, env=_env(repo), check=True, capture_output=True)
    config = [
        ("Addresses.Gateway", '""'),
        ("Addresses.API", '"/ip4/127.0.0.1/tcp/0"'),
        ("Addresses.Swarm", '["/ip4/127.0.0.1/tcp/0"]'),
        # in a private swarm the DHT finds providers among the members; alone, nothing to route
        ("Routing.Type", '"dht"' if swarm_key else '"none"'),
        ("AutoConf.Enabled", "false"),
    ]
    for key, value in config:
        subprocess.run(
            [kubo_binary(), "config", "--json", key, value],
            env=_env(repo),
            check=True,
            capture_output=True,
        )


def start(repo: Path, wait: float = 30.0, swarm_key: bytes | None = None) -> KuboProcess:
    """Start `ipfs daemon` on `repo` in its own session; return once its API answers."""
    init_repo(repo, swarm_key)
    (repo / "api").unlink(missing_ok=True)
    proc = spawn([kubo_binary(), "daemon", "--enable-gc=false"], repo / "daemon.log", _env(repo))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (repo / "daemon.log").read_text(errors="replace")[-2000:]
            raise ServiceUnavailable(f"kubo daemon on {repo} exited at start:\n{tail}")
        url = read_api_file(repo)
        if url and (repo / "daemon.log").read_text(errors="replace").count("Daemon is ready"):
            (repo / "codsh-daemon.json").write_text(json.dumps({"pid": proc.pid, "api": url}))
            return KuboProcess(repo, proc.pid, url)
        time.sleep(0.05)
    stop_pid(proc.pid)
    raise ServiceUnavailable(f"kubo daemon on {repo} did not get ready within {wait:.0f}s")


def running(repo: Path) -> KuboProcess | None:
    """The daemon started on `repo` by `start`, if it is still alive."""
    try:
        info = json.loads((repo / "codsh-daemon.json").read_text())
    except (OSError, ValueError):
        return None
    if not pid_alive(info["pid"]):
        return None
    return KuboProcess(repo, info["pid"], info["api"])


def stop(repo: Path) -> bool:
    proc = running(repo)
    (repo / "codsh-daemon.json").unlink(missing_ok=True)
    return stop_pid(proc.pid) if proc else False
