"""The orchestrator killed mid-job and started again: its running job resumes, the files it
recorded are not run again, the job ends with the CID an undisturbed run gives, and clients
waiting on the job (polling its record, streaming its events) see that end. Real `codsh serve`
processes, real kubo and Docker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from codsh.executor.warm import POOL_LABEL
from codsh.jobs.store import JobStore
from codsh.kubo_daemon import KuboProcess
from tests.api.conftest import Orchestrator, codsh
from tests.commands.cli import CODSH, add

# every run of a file writes a fresh random ID to its stderr (recorded in its result): a file
# run twice would show another ID than the one recorded before the kill
COMMAND = "cat /proc/sys/kernel/random/uuid >&2; sleep 1; cat"
FILES = {f"f{i}.txt": f"file {i}\n".encode() * 100 for i in range(8)}


class Serve:
    """`codsh serve` processes on one data dir, one at a time."""

    def __init__(self, env: dict[str, str], home: Path) -> None:
        self.env, self.home = env, home
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, bind: str = "127.0.0.1:0") -> str:
        log = (self.home / "serve.log").open("ab")
        command = [CODSH, "serve", "--bind", bind]
        self.proc = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        address = self.home / "serve.json"
        deadline = time.monotonic() + 30
        while not address.exists():
            assert self.proc.poll() is None, (self.home / "serve.log").read_text()
            assert time.monotonic() < deadline, "codsh serve did not start"
            time.sleep(0.05)
        return str(json.loads(address.read_text())["api"])

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        (self.home / "serve.json").unlink()  # a killed server cannot remove it

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def serve(kubo: KuboProcess, tmp_path: Path) -> Iterator[tuple[Serve, Orchestrator]]:
    home = tmp_path / "serve-home"
    home.mkdir()
    env = {**os.environ, "CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(home)}
    for variable in ("CODSH_SCHEDULER", "CODSH_TLS"):
        env.pop(variable, None)
    tokens = {"alice": codsh(env, "serve", "token", "add", "alice")}
    server = Serve(env, home)
    try:
        yield server, Orchestrator(server.start(), tokens, env, home)
    finally:
        server.stop()


class Poller(threading.Thread):
    """A client waiting for the job's end by polling its record, through the restart."""

    def __init__(self, api: Orchestrator, job: str) -> None:
        super().__init__(daemon=True)
        self.api, self.job = api, job
        self.states: list[str] = []
        self.refused = 0
        self.end: dict[str, object] = {}

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                status, record = self.api.call("GET", f"/v1/jobs/{self.job}")
            except (urllib.error.URLError, ConnectionError):
                self.refused += 1  # the orchestrator is down: ask again
            else:
                assert status == 200, record
                self.states.append(record["state"])
                if record["state"] != "running":
                    self.end = record
                    return
            time.sleep(0.1)


def recorded(home: Path, job: str) -> dict[str, dict[str, object]]:
    with JobStore(home / "jobs.sqlite") as store:
        return {path: r.as_dict() for path, r in store.results(job).items()}


@pytest.mark.slow
def test_a_killed_orchestrator_resumes_its_jobs_at_start_without_redoing_files(
    serve: tuple[Serve, Orchestrator], tmp_path: Path
) -> None:
    server, api = serve
    source = add(api.env, tmp_path / "in", FILES)
    spec = {"command": COMMAND, "input": source, "target": {"slots": 1, "memo": False}}
    status, job = api.call("POST", "/v1/jobs", body=spec)
    assert status == 201, job
    poller = Poller(api, job["id"])
    poller.start()
    deadline = time.monotonic() + 60
    while len(recorded(api.home, job["id"])) < 3:
        assert time.monotonic() < deadline, "no file was recorded"
        time.sleep(0.1)
    server.kill()
    before = recorded(api.home, job["id"])
    assert 3 <= len(before) < len(FILES)
    while poller.is_alive() and not poller.refused:  # the client finds nobody there
        time.sleep(0.05)

    port = api.url.rsplit(":", 1)[1]
    assert server.start(f"127.0.0.1:{port}") == api.url  # the same address: clients come back
    events = api.events(job["id"])  # a client streaming the job's events sees its end
    poller.join(timeout=120)
    assert poller.end.get("state") == "succeeded", poller.end
    assert "interrupted" not in poller.states  # resumed before the API answered anyone
    assert events[-1]["event"] == "end" and events[-1]["state"] == "succeeded"
    assert events[-1]["output"] == poller.end["output"] and poller.end["files"] == len(FILES)

    after = recorded(api.home, job["id"])
    assert set(after) == set(FILES)
    assert all(after[path] == before[path] for path in before)  # the same run's results
    runs = {str(result["stderr"]).strip() for result in after.values()}
    assert len(runs) == len(FILES)  # every file ran once: before the kill, or after

    undisturbed = {**spec, "target": {"slots": 2, "shard_size": 4, "memo": False}}
    status, again = api.call("POST", "/v1/jobs", body=undisturbed)
    assert status == 201, again
    assert api.wait(again["id"])["output"] == poller.end["output"]


def pooled(owner: str) -> set[str]:
    """The IDs of the warm containers of pool `owner` (executor/warm.py), running or not."""
    filters = {"label": f"{POOL_LABEL}={owner}"}
    return {entry["Id"] for entry in docker.from_env().api.containers(all=True, filters=filters)}


def until_pooled(owner: str, count: int) -> set[str]:
    deadline = time.monotonic() + 60
    while len(found := pooled(owner)) != count:
        assert time.monotonic() < deadline, f"{len(found)} warm containers, not {count}"
        time.sleep(0.1)
    return found


def test_the_orchestrator_keeps_warm_containers_and_leaves_none_behind(
    serve: tuple[Serve, Orchestrator], tmp_path: Path
) -> None:
    server, api = serve
    owner, depth = f"serve:{api.home}", os.cpu_count() or 1
    source = add(api.env, tmp_path / "in", {"a.txt": b"rain\n"})
    spec = {"command": "tr a-z A-Z", "input": source, "target": {"memo": False}}
    outputs = []
    for _ in range(2):  # the second takes a container started after the first
        status, job = api.call("POST", "/v1/jobs", body=spec)
        assert status == 201, job
        record = api.wait(job["id"])
        assert record["state"] == "succeeded", record
        outputs.append(record["output"])
        ready = until_pooled(owner, depth)  # one per core, for the next job of this kind
    assert outputs[0] == outputs[1]

    server.kill()  # what a killed orchestrator left, its next start removes
    assert pooled(owner) == ready
    api.url = server.start()
    assert pooled(owner) == set()
    status, job = api.call("POST", "/v1/jobs", body=spec)
    assert api.wait(job["id"])["output"] == outputs[0]
    until_pooled(owner, depth)
    server.stop()  # and a stopped one removes its own
    assert pooled(owner) == set()
