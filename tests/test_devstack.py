"""A 3-node devstack: a private swarm whose members are connected, datasets spread over it, and
the orchestrator in front of its cluster (a token for the user, a certificate for each member)."""

from __future__ import annotations

import json
import os
import signal
import ssl
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from unittest.mock import ANY

from cryptography import x509

from codsh import devstack
from codsh.cluster.node import scratch_folder
from codsh.cluster.tls import cluster_id, make_certs
from codsh.ipfs.client import KuboClient
from codsh.jobs.store import JobStore
from codsh.kubo_daemon import KuboProcess
from tests.commands.cli import codsh, write_tree
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


def api_call(path: str, token: str | None, body: object = None) -> tuple[int, Any]:
    """One request to the devstack's orchestrator; its status and decoded JSON."""
    info = devstack.orchestrator_info()
    assert info is not None
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(info["api"] + path, data=data)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        ca = ssl.create_default_context(cafile=str(devstack.tls_dir() / "ca.pem"))
        with urllib.request.urlopen(request, timeout=60, context=ca) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_orchestrator_runs_jobs_on_the_cluster_with_a_token_for_the_user(
    stack: list[devstack.NodeStatus], tmp_path: Path
) -> None:
    info, scheduler = devstack.orchestrator_info(), devstack.scheduler_info()
    assert info is not None and scheduler is not None
    assert info["api"].startswith("https://127.0.0.1:") and info["runs_on"] == scheduler["address"]
    assert stat.S_IMODE(devstack.token_file().stat().st_mode) == 0o600
    token = devstack.token_file().read_text().strip()
    assert api_call("/v1/health", token) == (200, {"ok": True, "user": "dev", "runs_on": ANY})
    assert api_call("/v1/health", None)[0] == 401
    pid = (devstack.devstack_dir() / "serve.pid").read_text()
    assert devstack.up(3) == stack and devstack.orchestrator_info() == info  # kept
    assert (devstack.devstack_dir() / "serve.pid").read_text() == pid

    tree = {f"d{i % 2}/f{i}.log": f"file {i}\n".encode() * 20 for i in range(6)}
    root = run(devstack.add_spread, write_tree(tmp_path / "in", tree), 1, urls(stack))
    status, job = api_call("/v1/jobs", token, {"command": "sed s/file/FILE/", "input": root})
    assert status == 201, job
    deadline = time.monotonic() + 120
    while (record := api_call(f"/v1/jobs/{job['id']}", token)[1])["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert record["state"] == "succeeded" and record["owner"] == "dev", record
    assert record["runs_on"] == scheduler["address"] and record["placement"]["locality"] == 1.0
    env = {k: v for k, v in os.environ.items() if k not in devstack.CLIENT_VARIABLES}
    env["CODSH_IPFS"] = str(stack[0].api_url)  # one node, this process: the same CID
    local = codsh("run", "-e", "sed s/file/FILE/", "-c", root, env=env)
    assert local.code == 0, local.err
    assert record["output"] == local.cid


def clients_added() -> int:
    """How many clients have connected to the devstack's scheduler since it started."""
    from codsh.cluster.execution import connect

    scheduler = devstack.scheduler_info()
    assert scheduler is not None
    client = connect(scheduler["address"], devstack.tls_dir())
    try:
        events = client.get_events("all")
        return sum(1 for _, event in events if event.get("action") == "add-client") - 1
    finally:
        client.close()


def finished(token: str, jobs: list[str]) -> dict[str, Any]:
    """The records of `jobs` once none is running."""
    deadline, records = time.monotonic() + 120, {}
    while len(records) < len(jobs):
        assert time.monotonic() < deadline
        for job in set(jobs) - set(records):
            record = api_call(f"/v1/jobs/{job}", token)[1]
            if record["state"] != "running":
                records[job] = record
        time.sleep(0.2)
    return records


def test_jobs_at_once_share_the_orchestrators_one_client_and_each_gets_its_own_results(
    stack: list[devstack.NodeStatus], tmp_path: Path
) -> None:
    """The orchestrator keeps one Dask client for its cluster jobs (a job pays no connect and
    close); jobs running at once on it each get their own per-file messages and results."""
    token = devstack.token_file().read_text().strip()
    tree = {f"d{i % 3}/f{i}.log": f"file {i}\n".encode() * 50 for i in range(12)}
    root = run(devstack.add_spread, write_tree(tmp_path / "in", tree), 1, urls(stack))
    first = api_call("/v1/jobs", token, {"command": "cat", "input": root})[1]["id"]
    finished(token, [first])  # the orchestrator's client is connected by now
    before = clients_added()
    commands = ["sed s/file/A/", "sed s/file/B/"] * 2
    body = {"input": root, "target": {"memo": False}}
    submitted = [api_call("/v1/jobs", token, {**body, "command": c}) for c in commands]
    assert [status for status, _ in submitted] == [201] * len(commands), submitted
    jobs = [job["id"] for _, job in submitted]
    records = finished(token, jobs)
    outputs = [records[job]["output"] for job in jobs]
    assert all(records[job]["state"] == "succeeded" for job in jobs), records
    assert outputs[0] == outputs[2] and outputs[1] == outputs[3] and outputs[0] != outputs[1]
    env = {k: v for k, v in os.environ.items() if k not in devstack.CLIENT_VARIABLES}
    env["CODSH_IPFS"] = str(stack[0].api_url)
    local = codsh("run", "-e", commands[1], "-c", root, env=env)
    assert local.code == 0, local.err
    assert outputs[1] == local.cid
    assert clients_added() - before == 1  # the count's own client before: none per job


def test_the_orchestrators_client_outlives_a_scheduler_restart_between_jobs(
    stack: list[devstack.NodeStatus], tmp_path: Path
) -> None:
    """The kept client reconnects to the scheduler started again (or a new one replaces it):
    the next job runs as if nothing happened."""
    token = devstack.token_file().read_text().strip()
    tree = {f"f{i}.log": f"line {i}\n".encode() for i in range(4)}
    root = run(devstack.add_spread, write_tree(tmp_path / "in", tree), 1, urls(stack))
    body = {"command": "sed s/line/LINE/", "input": root, "target": {"memo": False}}
    before = finished(token, [api_call("/v1/jobs", token, body)[1]["id"]])
    os.kill(int((devstack.devstack_dir() / "scheduler.pid").read_text()), signal.SIGKILL)
    time.sleep(1)
    assert devstack.up(3)  # the scheduler again, on its address; the orchestrator kept
    after = finished(token, [api_call("/v1/jobs", token, body)[1]["id"]])
    [first], [second] = before.values(), after.values()
    assert second["state"] == "succeeded", second
    assert second["output"] == first["output"]


def test_each_member_has_its_own_certificate_and_users_get_none(
    stack: list[devstack.NodeStatus],
) -> None:
    root = devstack.tls_root()
    assert stat.S_IMODE((root / "ca-key.pem").stat().st_mode) == 0o600
    members = ["scheduler", "orchestrator", "node0", "node1", "node2"]
    certs = {
        m: x509.load_pem_x509_certificate((root / m / "cert.pem").read_bytes()) for m in members
    }
    assert {m: c.subject.rfc4514_string() for m, c in certs.items()} == {
        m: f"CN=codsh {m}" for m in members
    }
    assert len({c.serial_number for c in certs.values()}) == len(members)
    assert all(stat.S_IMODE((root / m / "key.pem").stat().st_mode) == 0o600 for m in members)
    assert devstack.tls_dir() == root / "orchestrator"  # the only client's
    # each node's scratch folder names its cluster: another devstack's node0 has another one
    cluster = cluster_id(root / "node0")  # the CA's: every member of the cluster has the same
    assert cluster == cluster_id(root / "scheduler") == cluster_id(root)
    scratch = scratch_folder("node0", cluster)
    assert scratch.is_dir() and scratch.name == f"codsh-node-node0-{cluster}"


OUTSIDER = """
import socket, ssl, sys
from distributed import Client
from distributed.security import Security
address, ca, cert, key = sys.argv[1:]
if cert:
    security = Security(
        tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key, require_encryption=True
    )
    Client(address, security=security, timeout=10).close()
else:  # TLS trusting the scheduler, with no certificate of its own (Dask cannot even try)
    host, port = address.removeprefix("tls://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=ca)
    context.check_hostname = False
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with context.wrap_socket(raw) as tls:
            try:
                tls.recv(1)  # TLS 1.3: the server's verdict comes after the client's handshake
            except ssl.SSLError as exc:
                sys.exit(f"refused: {exc}")
"""


def test_a_dask_client_with_a_certificate_of_another_ca_or_none_is_refused(
    stack: list[devstack.NodeStatus], tmp_path: Path
) -> None:
    scheduler = devstack.scheduler_info()
    assert scheduler is not None
    make_certs(tmp_path / "other", ["mallory"])  # a CA of their own, and a certificate from it
    ca = str(devstack.tls_root() / "ca.pem")  # public: the outsider trusts the real scheduler
    mallory = tmp_path / "other" / "mallory"
    log = devstack.devstack_dir() / "scheduler.log"
    logged = len(log.read_text())
    attempts = {
        "another CA": [ca, str(mallory / "cert.pem"), str(mallory / "key.pem")],
        "none": [ca, "", ""],
        "orchestrator": [str(devstack.tls_dir() / f) for f in ("ca.pem", "cert.pem", "key.pem")],
    }
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", OUTSIDER, scheduler["address"], *files],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for name, files in attempts.items()
    }
    out = {name: proc.communicate(timeout=120)[0].decode() for name, proc in procs.items()}
    assert [procs[name].returncode for name in attempts] == [1, 1, 0], out
    assert "refused: " in out["none"] and "Traceback" in out["another CA"]
    refusals = log.read_text()[logged:]  # the scheduler said why, each time
    assert "certificate verify failed" in refusals, refusals
    assert "peer did not return a certificate" in refusals, refusals


def test_a_killed_orchestrator_is_restarted_by_up_and_resumes_its_cluster_job(
    stack: list[devstack.NodeStatus], tmp_path: Path
) -> None:
    token = devstack.token_file().read_text().strip()
    tree = {f"f{i:02d}.log": f"line {i}\n".encode() for i in range(12)}
    root = run(devstack.add_spread, write_tree(tmp_path / "in", tree), 1, urls(stack))
    command = "cat /proc/sys/kernel/random/uuid >&2; sleep 1; cat"  # a new ID in each run's stderr
    spec = {"command": command, "input": root, "target": {"memo": False}}
    status, job = api_call("/v1/jobs", token, spec)
    assert status == 201, job
    store = devstack.orchestrator_home() / "jobs.sqlite"

    def recorded() -> dict[str, dict[str, Any]]:
        with JobStore(store) as jobs:
            return {path: r.as_dict() for path, r in jobs.results(job["id"]).items()}

    deadline = time.monotonic() + 60
    while not recorded():
        assert time.monotonic() < deadline, "no file was recorded"
        time.sleep(0.1)
    os.kill(int((devstack.devstack_dir() / "serve.pid").read_text()), signal.SIGKILL)
    before = recorded()
    assert 1 <= len(before) < len(tree)
    devstack.up(3)  # starts the orchestrator again, which resumes the job
    while (record := api_call(f"/v1/jobs/{job['id']}", token)[1])["state"] == "running":
        assert time.monotonic() < deadline + 120
        time.sleep(0.2)
    assert record["state"] == "succeeded", record
    after = recorded()
    assert all(after[path] == before[path] for path in before)  # not run again
    assert len({str(r["stderr"]) for r in after.values()}) == len(tree)  # each file ran once
    env = {k: v for k, v in os.environ.items() if k not in devstack.CLIENT_VARIABLES}
    env["CODSH_IPFS"] = str(stack[0].api_url)
    local = codsh("run", "-e", command, "-c", root, "--shard-size", "3", "--slots", "4", env=env)
    assert local.code == 0, local.err
    assert record["output"] == local.cid
