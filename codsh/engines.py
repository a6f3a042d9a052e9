"""A Docker engine of its own per devstack node (`codsh devstack up --engines N`), so that the
devstack behaves like N machines: only the driver's engine has the job images at first, and the
nodes load them by content (codsh/images/content.py).

Each engine has its own data root, exec root, socket and pidfile, and no bridge and no iptables
rules: job containers have no network. It runs in a network namespace of its own, because a
dockerd started with `--bridge none` deletes the host's docker0 (the one the machine's own
engine uses for builds and networked containers). The exec root (where containerd's socket lives) is under
/run with a short name, since a unix socket path must stay under 108 bytes.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path
from typing import Any

from codsh.errors import ServiceUnavailable
from codsh.processes import pid_alive, spawn, stop_pid

START_WAIT = 60.0  # seconds an engine may take to answer


def folder_of(node_folder: Path) -> Path:
    return node_folder / "docker"


def socket_of(node_folder: Path) -> Path:
    return folder_of(node_folder) / "docker.sock"


def docker_host(node_folder: Path) -> str | None:
    """DOCKER_HOST of the node's own engine, when it has a running one."""
    pid = _pid(node_folder)
    return f"unix://{socket_of(node_folder)}" if pid and pid_alive(pid) else None


def start(node_folder: Path) -> str:
    """Start (or keep) the node's own engine; its DOCKER_HOST once it answers."""
    running = docker_host(node_folder)
    if running:
        return running
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise ServiceUnavailable("dockerd is not installed", "install docker.io (`make setup`)")
    root = folder_of(node_folder)
    root.mkdir(parents=True, exist_ok=True)
    exec_root = Path("/run/codsh-engines") / hashlib.sha256(str(root).encode()).hexdigest()[:12]
    unshare = shutil.which("unshare")
    if unshare is None:
        raise ServiceUnavailable("unshare is not installed", "install util-linux")
    command = [  # a network namespace of its own: dockerd with no bridge deletes docker0
        unshare,
        "--net",
        dockerd,
        "--data-root", str(root / "data"),
        "--exec-root", str(exec_root),
        "--pidfile", str(root / "dockerd.pid"),
        "-H", f"unix://{socket_of(node_folder)}",
        "--bridge", "none",
        "--iptables=false",
        "--ip-masq=false",
    ]  # fmt: skip
    spawn(command, root / "dockerd.log")
    host = f"unix://{socket_of(node_folder)}"
    deadline = time.monotonic() + START_WAIT
    while not _answers(host):
        if time.monotonic() > deadline:
            raise ServiceUnavailable(
                f"the node's Docker engine did not answer within {START_WAIT:g} s",
                f"see {root / 'dockerd.log'}",
            )
        time.sleep(0.2)
    return host


def stop(node_folder: Path, purge: bool = False) -> bool:
    """Stop the node's own engine (if it has one); with `purge`, remove its data too."""
    pid = _pid(node_folder)
    stopped = bool(pid and pid_alive(pid))
    if pid and stopped:
        stop_pid(pid, wait=30.0)  # dockerd stops its containers first
    if purge:
        shutil.rmtree(folder_of(node_folder), ignore_errors=True)
    return stopped


def _pid(node_folder: Path) -> int | None:
    try:
        return int((folder_of(node_folder) / "dockerd.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _answers(host: str) -> bool:
    import docker

    try:
        client = docker.DockerClient(base_url=host, timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False


PING_WAIT = 10.0  # seconds a node's engine may take to answer the inventory round's ping


async def engine_problem(engine: Any) -> str | None:
    """Why a node's Docker engine cannot run a shard now, or None when it answers a ping: a
    node whose engine is down says so in the inventory round and takes no shard."""
    import trio

    if engine is None:
        return "it has no Docker engine"
    try:
        with trio.fail_after(PING_WAIT):
            await trio.to_thread.run_sync(engine.ping, abandon_on_cancel=True)
    except trio.TooSlowError:
        return f"its Docker engine did not answer within {PING_WAIT:g} s"
    except Exception as exc:  # noqa: BLE001 - any failure: the engine cannot run containers
        return f"its Docker engine does not answer ({type(exc).__name__}: {exc})"
    return None
