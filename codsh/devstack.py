"""A local stack with no fuss: N kubo daemons under the codsh data dir, for demos and tests.

The nodes form a private swarm (a swarm key made at the first `up`, LIBP2P_FORCE_PNET=1, no public
bootstrap) and are connected to each other, so bitswap moves blocks between them and nothing else.
`up` is idempotent (running nodes are kept), `down` stops them and keeps their data unless purged.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import trio

from codsh import engines as engines_module
from codsh import kubo_daemon
from codsh.config import devstack_dir
from codsh.errors import ServiceUnavailable
from codsh.ipfs.client import KuboClient, KuboError
from codsh.processes import pid_alive, spawn, stop_pid
from codsh.spread import add_spread as add_spread  # devstack.add_spread, as before

CODSH = [sys.executable, "-m", "codsh"]
ORCHESTRATOR = "orchestrator"
DEV_USER = "dev"  # the devstack's user of its orchestrator (an admin)
CLIENT_VARIABLES = ("CODSH_SCHEDULER", "CODSH_TLS", "CODSH_API", "CODSH_TOKEN", "CODSH_IPFS")


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


def up(nodes: int = 1, engines: int = 0) -> list[NodeStatus]:
    """Start (or keep) N kubo nodes, connect them, then the scheduler and one codsh node each;
    the first `engines` nodes get a Docker engine of their own (codsh/engines.py)."""
    key = swarm_key()
    statuses = []
    fresh = set()  # kubo nodes started now: their API moved, so their codsh node must restart
    for index in range(nodes):
        repo = node_repo(index)
        proc = kubo_daemon.running(repo)
        if proc is None:
            proc = kubo_daemon.start(repo, swarm_key=key)
            fresh.add(f"node{index}")
        if index < engines and engines_module.docker_host(repo.parent) is None:
            engines_module.start(repo.parent)
            fresh.add(f"node{index}")
        statuses.append(NodeStatus(f"node{index}", repo, True, proc.api_url, proc.pid))
    if nodes > 1:
        trio.run(connect_all, [s.api_url for s in statuses if s.api_url])
    start_cluster(statuses, fresh)
    return statuses


def tls_root() -> Path:
    """The devstack's CA, and a folder per member with its certificate (codsh/cluster/tls.py)."""
    return devstack_dir() / "tls"


def tls_dir() -> Path:
    """The orchestrator's certificate: the only Dask client certificate of the devstack."""
    return tls_root() / ORCHESTRATOR


def scheduler_info() -> dict[str, str] | None:
    """{"address", "dashboard"} of the devstack's running scheduler, or None."""
    pid = _read_pid(devstack_dir() / "scheduler.pid")
    try:
        info: dict[str, str] = json.loads((devstack_dir() / "scheduler.json").read_text())
    except (OSError, ValueError):
        return None
    return info if pid and pid_alive(pid) else None


def start_cluster(
    kubo_nodes: list[NodeStatus], fresh: set[str] | None = None, wait: float = 90.0
) -> dict[str, str]:
    """The Dask scheduler (TLS; a certificate per member, made here once) and a codsh node per
    kubo node (restarted when its kubo or the scheduler is new), then the orchestrator."""
    from codsh.cluster.tls import make_certs

    members = ["scheduler", ORCHESTRATOR, *(node.name for node in kubo_nodes)]
    if make_certs(tls_root(), members):  # a new CA: whatever trusted the old one starts again
        for pid_file in (devstack_dir() / "serve.pid", devstack_dir() / "scheduler.pid"):
            pid = _read_pid(pid_file)
            if pid:
                stop_pid(pid)
    info = scheduler_info()
    restarted = info is None
    if info is None:
        info = _start_scheduler(wait)
    from codsh.cluster.execution import wait_for_nodes, worker_addresses

    slots = max(1, (os.cpu_count() or 1) // max(1, len(kubo_nodes)))
    stale: set[str] = set()  # the scheduler's addresses of the workers restarted below
    for node in kubo_nodes:
        pid_file = node.repo.parent / "worker.pid"
        pid = _read_pid(pid_file)
        if pid and pid_alive(pid) and not restarted and node.name not in (fresh or set()):
            continue
        if pid and not restarted:
            stale |= worker_addresses(info["address"], tls_dir(), node.name)
        if pid:
            stop_pid(pid)
        join = [*CODSH, "node", "join", info["address"], "--ipfs", str(node.api_url)]
        join += ["--tls", str(tls_root() / node.name), "--slots", str(slots), "--name", node.name]
        join += ["--label", f"devstack={node.name}", "--price", default_prices()]
        own_engine = engines_module.docker_host(node.repo.parent)
        env = {**os.environ, "DOCKER_HOST": own_engine} if own_engine else None
        proc = spawn(join, node.repo.parent / "worker.log", env)
        pid_file.write_text(str(proc.pid))
    wait_for_nodes(info["address"], tls_dir(), len(kubo_nodes), wait, gone=stale)
    node0 = kubo_nodes[0]
    start_orchestrator(str(node0.api_url), info["address"], node0.name in (fresh or set()))
    return info


def _start_scheduler(wait: float) -> dict[str, str]:
    address_file = devstack_dir() / "scheduler.json"
    address_file.unlink(missing_ok=True)
    port = free_port("scheduler.port")  # the same at every start: a restarted one is found again
    command = [*CODSH, "scheduler", "--tls", str(tls_root() / "scheduler"), "--port", str(port)]
    proc = spawn([*command, "--address-file", str(address_file)], devstack_dir() / "scheduler.log")
    (devstack_dir() / "scheduler.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + wait
    while (info := scheduler_info()) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise ServiceUnavailable(
                "the Dask scheduler did not start", f"see {devstack_dir() / 'scheduler.log'}"
            )
        time.sleep(0.1)
    return info


def default_prices() -> str:
    """The `--price` every devstack node joins with: the documented defaults (core/bill.py)."""
    from codsh.core.bill import DEFAULT_PRICES

    return ",".join(f"{key}={value:g}" for key, value in DEFAULT_PRICES.items())


def free_port(name: str) -> int:
    """A free loopback port chosen at the first start, then kept (in the file `name`)."""
    path = devstack_dir() / name
    if not path.exists():
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            path.write_text(str(probe.getsockname()[1]))
    return int(path.read_text())


def orchestrator_home() -> Path:
    """The devstack orchestrator's data dir: its job store, its tokens, its serve.json."""
    return devstack_dir() / ORCHESTRATOR


def orchestrator_log() -> Path:
    return devstack_dir() / "serve.log"


def token_file() -> Path:
    """The dev user's API token (mode 0600)."""
    return devstack_dir() / "token"


def orchestrator_info() -> dict[str, str] | None:
    """{"api", "runs_on"} of the devstack's running orchestrator, or None."""
    pid = _read_pid(devstack_dir() / "serve.pid")
    try:
        info: dict[str, str] = json.loads((orchestrator_home() / "serve.json").read_text())
    except (OSError, ValueError):
        return None
    return info if pid and pid_alive(pid) else None


def start_orchestrator(
    ipfs_api: str, scheduler: str, restart: bool = False, wait: float = 60.0
) -> dict[str, str]:
    """`codsh serve` on a loopback port chosen once, over https with its cluster certificate
    (users trust the devstack's CA: CODSH_CA), its jobs on the devstack's scheduler (it
    holds the only client certificate), its kubo node0's; kept when it runs, unless `restart`
    (node0's kubo moved). The jobs a stopped one left running are resumed by the new one."""
    dev_token()
    info = orchestrator_info()
    if info is not None and not restart:
        return info
    pid_file = devstack_dir() / "serve.pid"
    pid = _read_pid(pid_file)
    if pid:
        stop_pid(pid)
    (orchestrator_home() / "serve.json").unlink(missing_ok=True)
    bind = f"127.0.0.1:{free_port('serve.port')}"
    command = [*CODSH, "--ipfs", ipfs_api, "serve", "--bind", bind]
    command += ["--scheduler", scheduler, "--tls", str(tls_dir()), "--tls-from-cluster"]
    env = {k: v for k, v in os.environ.items() if k not in CLIENT_VARIABLES}
    env["CODSH_HOME"] = str(orchestrator_home())
    log = orchestrator_log()
    proc = spawn(command, log, env)
    pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + wait
    while (info := orchestrator_info()) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise ServiceUnavailable("the orchestrator (codsh serve) did not start", f"see {log}")
        time.sleep(0.1)
    return info


def dev_token() -> str:
    """The token of the devstack's user ("dev", an admin), made once and kept in token_file()."""
    from codsh.api.server import tokens_db
    from codsh.api.tokens import TokenStore

    path = token_file()
    store = TokenStore(tokens_db(orchestrator_home()))
    try:
        token = path.read_text().strip() if path.exists() else ""
        if token and store.who(token) is not None:
            return token
        if any(user.name == DEV_USER for user in store.users()):
            store.remove(DEV_USER)  # its token file is gone: a new token replaces it
        token = store.add(DEV_USER, admin=True)
    finally:
        store.close()
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    path.write_text(token + "\n")
    return token


def stop_orchestrator() -> bool:
    """Stop the devstack's orchestrator; its running jobs are resumed by the next one."""
    pid = _read_pid(devstack_dir() / "serve.pid")
    stopped = stop_pid(pid) if pid else False
    (orchestrator_home() / "serve.json").unlink(missing_ok=True)
    return stopped


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


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
                await _connect(ipfs, address)


async def _connect(ipfs: KuboClient, address: str, tries: int = 5) -> None:
    """Dial `address`; the other node may be dialling this one at the same moment (its DHT found
    it), and libp2p then fails both handshakes: wait a little and dial again, unless connected."""
    peer = address.rsplit("/p2p/", 1)[-1]
    for attempt in range(tries):
        try:
            await ipfs.swarm_connect(address)
            return
        except KuboError:
            await trio.sleep(0.2 * (attempt + 1))
            if peer in await ipfs.swarm_peers():
                return
            if attempt == tries - 1:
                raise


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
    stop_orchestrator()
    for repo in node_repos():
        pid = _read_pid(repo.parent / "worker.pid")
        if pid:
            stop_pid(pid)
    pid = _read_pid(devstack_dir() / "scheduler.pid")
    if pid:
        stop_pid(pid)
    (devstack_dir() / "scheduler.json").unlink(missing_ok=True)
    remove_cluster_containers()
    stopped = [repo.parent.name for repo in node_repos() if kubo_daemon.stop(repo)]
    for repo in node_repos():
        engines_module.stop(repo.parent, purge)
    if purge:
        from codsh.cluster.node import scratch_folder
        from codsh.cluster.tls import CA, cluster_id

        if (tls_root() / CA).exists():  # the nodes' scratch folders name the cluster's ID
            cluster = cluster_id(tls_root())
            for name in (repo.parent.name for repo in node_repos()):
                shutil.rmtree(scratch_folder(name, cluster), ignore_errors=True)
        shutil.rmtree(devstack_dir(), ignore_errors=True)
    return stopped


def remove_cluster_containers() -> int:
    """Remove the shard containers this devstack's nodes left (a node killed mid-shard, or its
    warm containers when it could not stop in time); best effort without Docker."""
    from codsh.cluster.tls import CA, cluster_id
    from codsh.errors import CodshError
    from codsh.executor.container import CLUSTER_LABEL, docker_client, remove_leftovers

    if not (tls_root() / CA).exists():
        return 0
    try:
        return remove_leftovers(docker_client(), CLUSTER_LABEL, cluster_id(tls_root()))
    except CodshError:
        return 0


def first_node_repo() -> Path | None:
    """The repo of the first running devstack node, which commands use when no --ipfs is given."""
    for repo in node_repos():
        if kubo_daemon.running(repo):
            return repo
    return None
