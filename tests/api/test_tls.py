"""TLS on the API: `codsh serve --certfile --keyfile` serves https, which a client verifies
against the CA it is given (CODSH_CA) or the system's store; http only on loopback."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from codsh.api.server import certificate_names, check_bind, cluster_certificate
from codsh.client.api import ApiClient
from codsh.cluster.tls import CA, CERT, KEY, make_certs
from codsh.errors import InputError, ServiceUnavailable
from codsh.kubo_daemon import KuboProcess
from tests.api.conftest import Orchestrator
from tests.commands.cli import CODSH, assert_usage_error, codsh


@dataclass
class Https:
    url: str
    token: str
    ca: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def https(kubo: KuboProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Https]:
    """`codsh serve` with a certificate from a throwaway CA (for 127.0.0.1 and localhost)."""
    home = tmp_path_factory.mktemp("serve-tls")
    make_certs(home / "pki", ["api"])
    server = home / "pki" / "api"
    env = {**os.environ, "CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(home)}
    for name in ("CODSH_SCHEDULER", "CODSH_API", "CODSH_TOKEN", "CODSH_CA"):
        env.pop(name, None)
    token = codsh("serve", "token", "add", "alice", env=env).out.decode().strip()
    args = [
        "--bind",
        "127.0.0.1:0",
        "--certfile",
        str(server / CERT),
        "--keyfile",
        str(server / KEY),
    ]
    with (home / "serve.log").open("wb") as log:
        proc = subprocess.Popen([CODSH, "serve", *args], env=env, stdout=log, stderr=log)
        try:
            yield Https(wait_for_address(home, proc), token, home / "pki" / CA, env)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)


def wait_for_address(home: Path, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 30
    while not (home / "serve.json").exists():
        assert proc.poll() is None, (home / "serve.log").read_text()
        assert time.monotonic() < deadline, "codsh serve did not start"
        time.sleep(0.1)
    return str(json.loads((home / "serve.json").read_text())["api"])


def get(https: Https, context: ssl.SSLContext, path: str = "/v1/health") -> tuple[int, bytes]:
    host, port = https.url.removeprefix("https://").rsplit(":", 1)
    connection = http.client.HTTPSConnection(host, int(port), timeout=10, context=context)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {https.token}"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_https_is_verified_against_the_ca(https: Https) -> None:
    assert https.url.startswith("https://127.0.0.1:")
    status, body = get(https, ssl.create_default_context(cafile=str(https.ca)))
    assert status == 200 and json.loads(body)["user"] == "alice"
    with pytest.raises(ssl.SSLCertVerificationError):  # the system's store does not know it
        get(https, ssl.create_default_context())


def test_the_client_trusts_the_given_ca_only(https: Https, tmp_path: Path) -> None:
    client = ApiClient(https.url, https.token, ca=str(https.ca))
    assert client.call("GET", "/v1/health")["user"] == "alice"
    with pytest.raises(InputError, match="not trusted") as refused:
        ApiClient(https.url, https.token).call("GET", "/v1/health")
    assert "CODSH_CA" in refused.value.hint
    make_certs(tmp_path / "other", [])
    with pytest.raises(InputError, match="not trusted"):
        ApiClient(https.url, https.token, ca=str(tmp_path / "other" / CA)).call("GET", "/v1/nodes")
    env = {**https.env, "CODSH_API": https.url, "CODSH_TOKEN": https.token}
    assert_usage_error(codsh("node", "list", env=env), "not trusted", "CODSH_CA")
    listed = codsh("node", "list", env={**env, "CODSH_CA": str(https.ca)})
    assert listed.code == 0 and "this machine" in listed.out.decode(), listed.err


def test_http_is_refused_off_loopback(tmp_path: Path) -> None:
    env = {**os.environ, "CODSH_HOME": str(tmp_path)}
    result = codsh("serve", "--bind", "0.0.0.0:0", env=env, timeout=30)
    assert_usage_error(result, "in clear", "--certfile", "--insecure")
    assert not (tmp_path / "serve.json").exists()
    cert = tmp_path / "cert.pem"
    cert.write_text("")
    result = codsh("serve", "--bind", "127.0.0.1:0", "--certfile", str(cert), env=env, timeout=30)
    assert_usage_error(result, "--keyfile")


@pytest.mark.parametrize(
    ("bind", "tls", "insecure"),
    [
        ("127.0.0.1:0", False, False),
        ("127.0.0.5:8765", False, False),
        ("localhost:0", False, False),
        ("[::1]:0", False, False),
        ("0.0.0.0:8765", True, False),
        ("0.0.0.0:8765", False, True),
        ("example.org:443", True, False),
    ],
)
def test_check_bind_accepts(bind: str, tls: bool, insecure: bool) -> None:
    assert check_bind(bind, tls, insecure) == bind


@pytest.mark.parametrize("bind", ["0.0.0.0:8765", "[::]:0", "10.1.2.3:80", "example.org:80"])
def test_check_bind_refuses_http_off_loopback(bind: str) -> None:
    with pytest.raises(InputError, match="in clear"):
        check_bind(bind)


@pytest.fixture(scope="module")
def from_cluster(kubo: KuboProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Https]:
    """`codsh serve --tls DIR --tls-from-cluster`: https with its cluster member certificate."""
    home = tmp_path_factory.mktemp("serve-cluster-tls")
    make_certs(home / "tls", ["orchestrator"])
    env = {**os.environ, "CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(home)}
    for name in ("CODSH_SCHEDULER", "CODSH_TLS", "CODSH_API", "CODSH_TOKEN", "CODSH_CA"):
        env.pop(name, None)
    token = codsh("serve", "token", "add", "carol", env=env).out.decode().strip()
    args = ["--bind", "127.0.0.1:0", "--tls", str(home / "tls" / "orchestrator")]
    with (home / "serve.log").open("wb") as log:
        command = [CODSH, "serve", *args, "--tls-from-cluster"]
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        try:
            url = wait_for_address(home, proc)
            yield Https(url, token, home / "tls" / "orchestrator" / CA, env)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)


def test_serve_takes_its_certificate_from_the_cluster_ca(from_cluster: Https) -> None:
    assert from_cluster.url.startswith("https://127.0.0.1:")
    env = {**from_cluster.env, "CODSH_API": from_cluster.url, "CODSH_TOKEN": from_cluster.token}
    refused = codsh("job", "list", env=env)
    assert_usage_error(refused, "not trusted", "set CODSH_CA")
    trusted = codsh("job", "list", env={**env, "CODSH_CA": str(from_cluster.ca)})
    assert trusted.code == 0, trusted.err
    status, body = get(from_cluster, ssl.create_default_context(cafile=str(from_cluster.ca)))
    assert status == 200 and json.loads(body)["user"] == "carol"


def test_the_sdk_trusts_codsh_ca(from_cluster: Https, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK (and -f/-x through the CLI) honour CODSH_CA as the CLI's calls do (they did not)."""
    import codsh as sdk

    monkeypatch.setenv("CODSH_CA", str(from_cluster.ca))
    client = sdk.connect(from_cluster.url, from_cluster.token)
    assert client.jobs() == []
    monkeypatch.delenv("CODSH_CA")
    with pytest.raises(InputError, match="not trusted"):
        sdk.connect(from_cluster.url, from_cluster.token).jobs()
    given = sdk.connect(from_cluster.url, from_cluster.token, ca=str(from_cluster.ca))
    assert given.jobs() == []


def test_plain_http_to_the_https_port_says_so(from_cluster: Https) -> None:
    plain = from_cluster.url.replace("https://", "http://")
    env = {**from_cluster.env, "CODSH_API": plain, "CODSH_TOKEN": from_cluster.token}
    result = codsh("job", "list", env=env)
    assert_usage_error(result, "serves https, not http", f"CODSH_API={from_cluster.url}")


def test_https_to_an_http_port_says_so(orchestrator: Orchestrator) -> None:
    secure = orchestrator.url.replace("http://", "https://")
    with pytest.raises(InputError, match="does not speak TLS") as refused:
        ApiClient(secure, orchestrator.tokens["alice"]).call("GET", "/v1/health")
    assert f"CODSH_API={orchestrator.url}" in refused.value.hint


def test_a_dead_port_is_still_unavailable_not_a_tls_mistake() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ServiceUnavailable, match="does not answer"):
        ApiClient(f"http://127.0.0.1:{port}", "t").call("GET", "/v1/health")


def test_tls_from_cluster_needs_the_cluster_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CODSH_TLS", "CODSH_SCHEDULER")}
    env["CODSH_HOME"] = str(tmp_path)
    result = codsh("serve", "--bind", "127.0.0.1:0", "--tls-from-cluster", env=env, timeout=30)
    assert_usage_error(result, "--tls-from-cluster", "--tls DIR")
    make_certs(tmp_path / "tls", ["orchestrator"])
    folder = str(tmp_path / "tls" / "orchestrator")
    both = ["--tls", folder, "--tls-from-cluster", "--certfile", f"{folder}/cert.pem"]
    result = codsh("serve", "--bind", "127.0.0.1:0", *both, "--keyfile", "k", env=env, timeout=30)
    assert_usage_error(result, "two certificates")
    assert not (tmp_path / "serve.json").exists()


def test_the_cluster_certificate_must_name_the_bind(tmp_path: Path) -> None:
    make_certs(tmp_path, ["orchestrator"])
    folder = tmp_path / "orchestrator"
    assert sorted(certificate_names(folder / CERT)) == ["127.0.0.1", "localhost"]
    for bind in ("127.0.0.1:0", "localhost:8765", "0.0.0.0:8765", "[::]:0"):
        assert cluster_certificate(folder, bind) == (folder / CERT, folder / KEY)
    with pytest.raises(InputError, match="not 10.1.2.3") as refused:
        cluster_certificate(folder, "10.1.2.3:8765")
    assert "--certfile" in refused.value.hint
