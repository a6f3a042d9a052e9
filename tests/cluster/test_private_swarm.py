"""The README's private swarm, as written (issue 13): its kubo block runs line by line on three
repos standing for three hosts (loopback ports for 0.0.0.0:4001 and 5001), with the key `codsh
cluster swarm-key` makes. The two with the key connect and move a block; the one with another
key is refused. (With mDNS on, the members were connected but bitswap often fetched nothing
between them here: kubo 0.42, other daemons on the machine; the README turns it off.)"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codsh.config import kubo_binary
from codsh.ipfs.address import read_api_file
from codsh.processes import spawn, stop_pid
from tests.commands.cli import CODSH

ROOT = Path(__file__).resolve().parents[2]
MARK = "<!-- checked by tests/cluster/test_private_swarm.py -->"
PEER, ADDRESS = "PEER_ID_OF_THE_FIRST_NODE", "/ip4/10.0.0.11/tcp/4001"


def readme_block() -> list[str]:
    text = (ROOT / "README.md").read_text()
    found = re.search(rf"^{re.escape(MARK)}\n```sh\n(.*?)^```", text, re.M | re.S)
    assert found, "the README's private swarm block is gone"
    return [line for line in found.group(1).splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Host:
    """One storage node host's kubo, set up by the README's lines."""

    def __init__(self, home: Path, key: Path) -> None:
        home.mkdir()  # the codsh user's home, /var/lib/codsh
        self.repo, self.key, self.port = home / "ipfs", key, free_port()
        self.env = {**os.environ, "IPFS_PATH": str(self.repo)}
        self.env["PATH"] = f"{Path(kubo_binary()).parent}{os.pathsep}{os.environ['PATH']}"
        self.proc: subprocess.Popen[bytes] | None = None

    def line(self, line: str, first: Host | None) -> None:
        """One README line here: this host's paths and loopback ports for the real ones."""
        if line.startswith("export IPFS_PATH="):
            return
        if PEER in line:
            if first is None:  # the first node peers with nobody yet
                return
            line = line.replace(PEER, first.peer()).replace(ADDRESS, first.swarm())
        line = line.replace("/etc/codsh/swarm.key", str(self.key))
        line = line.replace("/ip4/0.0.0.0/tcp/4001", f"/ip4/127.0.0.1/tcp/{self.port}")
        line = line.replace("tcp/5001", "tcp/0")
        if " ipfs daemon" in f" {line}":
            env = {**self.env, **dict([line.split()[0].split("=", 1)])}
            self.proc = spawn(line.split()[1:], self.repo.parent / "daemon.log", env)
            self.ready()  # the README's next lines run once it is up
            return
        done = subprocess.run(["bash", "-c", line], env=self.env, capture_output=True, timeout=60)
        assert done.returncode == 0, (line, done.stderr)

    def ipfs(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [kubo_binary(), *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0 or not check, (args, done.stderr)
        return done

    def ready(self) -> None:
        deadline = time.monotonic() + 60
        while not (read_api_file(self.repo) and "Daemon is ready" in self.log()):
            assert self.proc is not None and self.proc.poll() is None, self.log()
            assert time.monotonic() < deadline, self.log()
            time.sleep(0.1)

    def log(self) -> str:
        path = self.repo.parent / "daemon.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def peer(self) -> str:
        return self.ipfs("id", "-f", "<id>").stdout

    def swarm(self) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.port}"

    def address(self) -> str:
        return f"{self.swarm()}/p2p/{self.peer()}"


def swarm_key(folder: Path) -> Path:
    folder.mkdir()
    made = subprocess.run(
        [CODSH, "cluster", "swarm-key", "swarm.key"], cwd=folder, capture_output=True, timeout=60
    )
    assert made.returncode == 0, made.stderr
    return folder / "swarm.key"


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[dict[str, Host]]:
    key, other = swarm_key(tmp_path / "key"), swarm_key(tmp_path / "other-key")
    made = {
        "first": Host(tmp_path / "first", key),
        "second": Host(tmp_path / "second", key),
        "outsider": Host(tmp_path / "outsider", other),
    }
    try:
        yield made
    finally:
        for host in made.values():
            if host.proc is not None:
                stop_pid(host.proc.pid)


def test_the_readme_swarm_connects_members_and_refuses_another_key(
    hosts: dict[str, Host],
) -> None:
    lines = readme_block()
    assert any("LIBP2P_FORCE_PNET=1 ipfs daemon" in line for line in lines)
    first = hosts["first"]
    for line in lines:
        first.line(line, None)
    first.ready()
    second = hosts["second"]
    for line in lines:
        second.line(line, first)
    second.ready()
    peer = first.peer()
    deadline = time.monotonic() + 30  # the second connects to its peer at start
    while peer not in second.ipfs("swarm", "peers").stdout:
        assert time.monotonic() < deadline, second.log()
        time.sleep(0.2)
    shared = first.repo.parent / "shared.txt"
    shared.write_text("only in the private swarm\n")
    cid = first.ipfs("add", "-Q", "--cid-version=1", str(shared)).stdout.strip()
    assert second.ipfs("cat", cid).stdout == shared.read_text()
    for line in lines:
        hosts["outsider"].line(line, first)
    hosts["outsider"].ready()
    # another key: no connection, neither at start nor when asked
    assert peer not in hosts["outsider"].ipfs("swarm", "peers").stdout
    refused = hosts["outsider"].ipfs("swarm", "connect", first.address(), check=False)
    assert refused.returncode != 0
    assert kubo_config(first, "Addresses.API").startswith("/ip4/127.0.0.1/")  # RPC on loopback


def kubo_config(host: Host, key: str) -> str:
    return host.ipfs("config", key).stdout.strip()
