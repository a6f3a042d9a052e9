"""Joining from another host (issue 13): `codsh cluster certs` makes files a real scheduler and
node accept; a node with another cluster's certificates, a certificate its CA did not sign, or
none is refused at once, saying why (it used to wait forever: "Waiting to connect")."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codsh.api.server import certificate_names, cluster_certificate
from codsh.cluster.tls import CA, CERT, KEY, cluster_id, make_certs
from codsh.kubo_daemon import KuboProcess
from tests.commands.cli import CODSH, assert_usage_error, codsh

MEMBERS = ["scheduler", "orchestrator", "store-a", "store-b"]


def clean_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "CODSH_HOME": str(home)}
    for name in ("CODSH_SCHEDULER", "CODSH_TLS", "CODSH_API", "CODSH_TOKEN", "CODSH_CA"):
        env.pop(name, None)
    return env


def test_cluster_certs_makes_the_layout_tls_reads(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    pki = tmp_path / "pki"
    made = codsh("cluster", "certs", str(pki), "--node", "store-a", "--host", "10.1.2.3", env=env)
    assert made.code == 0, made.err
    assert f"cluster {cluster_id(pki)}" in made.out.decode()
    assert stat.S_IMODE((pki / "ca-key.pem").stat().st_mode) == 0o600
    for member in MEMBERS[:3]:
        assert sorted(p.name for p in (pki / member).iterdir()) == [CA, CERT, KEY]
        assert stat.S_IMODE((pki / member / KEY).stat().st_mode) == 0o600
        assert cluster_id(pki / member) == cluster_id(pki)
    # the orchestrator's certificate names the host it is reached at (serve checks it)
    assert "10.1.2.3" in certificate_names(pki / "orchestrator" / CERT)
    folder = pki / "orchestrator"
    assert cluster_certificate(folder, "10.1.2.3:8765") == (folder / CERT, folder / KEY)
    assert "10.1.2.3" not in certificate_names(pki / "store-a" / CERT)
    # a node added later: the CA and the members made before are kept
    before = {m: (pki / m / CERT).read_bytes() for m in MEMBERS[:3]}
    again = codsh("cluster", "certs", str(pki), "--node", "store-b", "--host", "10.1.2.3", env=env)
    assert again.code == 0 and "CA kept" in again.out.decode(), again.err
    assert {m: (pki / m / CERT).read_bytes() for m in MEMBERS[:3]} == before
    assert cluster_id(pki / "store-b") == cluster_id(pki)


def test_cluster_certs_refuses_bad_names_and_a_foreign_folder(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    assert_usage_error(
        codsh("cluster", "certs", str(tmp_path / "p"), "--node", "../x", env=env), "node name"
    )
    assert_usage_error(
        codsh("cluster", "certs", str(tmp_path / "p"), "--node", "scheduler", env=env),
        "a member already",
    )
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    refused = codsh("cluster", "certs", str(tmp_path / "full"), env=env)
    assert_usage_error(refused, "holds no cluster CA", "empty or new folder")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_file(path: Path, proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 60
    while not (path.exists() and path.read_text()):
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    return str(json.loads(path.read_text())["address"])


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real `codsh scheduler` with the certificates `codsh cluster certs` made."""
    home = tmp_path_factory.mktemp("real-machines")
    made = codsh("cluster", "certs", str(home / "pki"), "--node", "store-a", env=clean_env(home))
    assert made.code == 0, made.err
    args = ["scheduler", "--tls", str(home / "pki" / "scheduler"), "--port", "0"]
    args += ["--address-file", str(home / "scheduler.json")]
    with (home / "scheduler.log").open("wb") as log:
        proc = subprocess.Popen([CODSH, *args], env=clean_env(home), stdout=log, stderr=log)
    try:
        yield wait_for_file(home / "scheduler.json", proc, home / "scheduler.log"), home
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


def test_a_node_with_the_made_certificates_joins_and_is_listed(
    scheduler: tuple[str, Path], kubo: KuboProcess
) -> None:
    address, home = scheduler
    pki = home / "pki"
    join = ["node", "join", address, "--ipfs", kubo.api_url, "--tls", str(pki / "store-a")]
    port = free_port()  # the port to open in a firewall: the node listens where it is told
    join += ["--name", "store-a", "--label", "site=a", "--port", str(port)]
    with (home / "node.log").open("wb") as log:
        node = subprocess.Popen([CODSH, *join], env=clean_env(home), stdout=log, stderr=log)
    try:
        ask = ["node", "list", "--scheduler", address, "--tls", str(pki / "orchestrator"), "--json"]
        deadline = time.monotonic() + 90
        while True:
            listed = codsh(*ask, env=clean_env(home))
            nodes = json.loads(listed.out)["nodes"] if listed.code == 0 else []
            if any(n["name"] == "store-a" and n["healthy"] for n in nodes):
                break
            assert node.poll() is None, (home / "node.log").read_text()
            assert time.monotonic() < deadline, (listed.err, nodes)
            time.sleep(0.5)
        assert nodes[0]["labels"] == {"site": "a"}
        assert f"tls://127.0.0.1:{port}" in (home / "scheduler.log").read_text()
    finally:
        node.terminate()
        node.wait(timeout=30)


@pytest.mark.parametrize("case", ["another cluster", "not signed by its CA", "none"])
def test_a_node_with_wrong_certificates_is_refused_at_once_saying_why(
    scheduler: tuple[str, Path], kubo: KuboProcess, tmp_path: Path, case: str
) -> None:
    address, home = scheduler
    make_certs(tmp_path / "other", ["store-a"])  # another cluster's CA, and a node of it
    folder = tmp_path / "node"
    folder.mkdir()
    if case == "another cluster":
        folder = tmp_path / "other" / "store-a"
    elif case == "not signed by its CA":  # the right CA beside another CA's certificate
        (folder / CA).write_bytes((home / "pki" / CA).read_bytes())
        for name in (CERT, KEY):
            (folder / name).write_bytes((tmp_path / "other" / "store-a" / name).read_bytes())
    join = ["node", "join", address, "--ipfs", kubo.api_url, "--tls", str(folder)]
    refused = codsh(*join, env=clean_env(tmp_path), timeout=60)
    expected = {
        "another cluster": ("from another CA", "`codsh cluster certs`"),
        "not signed by its CA": ("refused this member's certificate", "`codsh cluster certs`"),
        "none": ("has no cluster certificates", "--tls"),
    }[case]
    assert_usage_error(refused, *expected)
    assert refused.seconds < 30, refused.seconds


def test_a_node_given_a_port_that_is_no_scheduler_says_so(
    scheduler: tuple[str, Path], kubo: KuboProcess, tmp_path: Path
) -> None:
    """kubo's RPC port answers, but not TLS: a mistyped address, said as such."""
    _, home = scheduler
    port = kubo.api_url.rsplit(":", 1)[1].strip("/")
    join = ["node", "join", f"tls://127.0.0.1:{port}", "--ipfs", kubo.api_url]
    refused = codsh(*join, "--tls", str(home / "pki" / "store-a"), env=clean_env(tmp_path))
    assert_usage_error(refused, "does not answer as a codsh scheduler over TLS", "--address-file")
