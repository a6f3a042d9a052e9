"""A job through the orchestrator against the same job run here, measured in one run.

Starts a kubo node and `codsh serve` (its jobs on this machine), then times, as medians of N runs
each: `codsh job list` (a client's start and one call) and a trivial one-file job
(`codsh run -e cat --no-memo`), once in-process (the embedded default) and once through the API
(CODSH_API + CODSH_TOKEN). The issue's goal: a job submitted through the API starts within 50 ms
of a local one. Last, the trivial job through the API with the orchestrator's warm containers (its
default) and with `--warm 0`, the same run.

"Starts" is measured, not inferred from whole runs: a loopback relay in front of kubo (for the
local run) and in front of the API (for the API run) notes when the job's first request reaches
it, so the figure is the client's own cost from exec to its job's first request, wherever the
job then runs (the client does the same for a cluster behind the orchestrator: it never loads
Dask). The local one's first request is the job's first call to kubo, after its record is made.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codsh import kubo_daemon  # noqa: E402

CODSH = str(ROOT / ".venv" / "bin" / "codsh")


class Relay:
    """A loopback TCP relay to `target` that notes when a request first reaches it."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.first: float | None = None
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError):  # either end closed the connection: so is this
            self._pump(client)

    def _pump(self, client: socket.socket) -> None:
        with client, socket.create_connection(self.target) as server:
            sockets = [client, server]
            while True:
                ready, _, _ = select.select(sockets, [], [], 60)
                if not ready:
                    return
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    if source is client and self.first is None:
                        self.first = time.perf_counter()
                    (server if source is client else client).sendall(data)


def median_seconds(
    command: list[str], env: dict[str, str], runs: int, relay: Relay | None = None
) -> tuple[float, float]:
    """The median of whole runs, and (with a relay) of exec -> the first request reaching it."""
    times, starts = [], []
    for _ in range(runs + 1):  # the first is a warm-up
        if relay is not None:
            relay.first = None
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
        if relay is not None and relay.first is not None:
            starts.append(relay.first - started)
    return statistics.median(times[1:]), statistics.median(starts[1:]) if starts else 0.0


def start_server(
    env: dict[str, str], home: Path, *options: str
) -> tuple[subprocess.Popen[bytes], str]:
    log = (home / "serve.log").open("wb")
    command = [CODSH, "serve", "--bind", "127.0.0.1:0", *options]
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    address = home / "serve.json"
    deadline = time.monotonic() + 30
    while not address.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"codsh serve did not start: {(home / 'serve.log').read_text()}")
        time.sleep(0.1)
    return proc, str(json.loads(address.read_text())["api"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="codsh-bench-api-") as tmp:
        work = Path(tmp)
        (work / "home").mkdir()
        kubo = kubo_daemon.start(work / "kubo")
        local = {**os.environ, "CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(work / "home")}
        local.pop("CODSH_API", None)
        try:
            (work / "one.txt").write_text("rain\n")
            cid = (
                subprocess.run(
                    [CODSH, "add", str(work / "one.txt")],
                    env=local,
                    check=True,
                    capture_output=True,
                )
                .stdout.decode()
                .strip()
            )
            token = (
                subprocess.run(
                    [CODSH, "serve", "token", "add", "bench"],
                    env=local,
                    check=True,
                    capture_output=True,
                )
                .stdout.decode()
                .strip()
            )
            remote = {**local, "CODSH_TOKEN": token}
            with serving(remote, work / "home") as remote:
                report(local, remote, cid, args.runs)
                start_report(local, remote, cid, args.runs)
                warm = median_seconds(trivial_job(cid), remote, args.runs)[0] * 1000
            with serving(remote, work / "home", "--warm", "0") as remote:
                cold = median_seconds(trivial_job(cid), remote, args.runs)[0] * 1000
            print(
                f"{'trivial job via API':32} warm containers {warm:7.1f} ms  --warm 0 {cold:7.1f} ms"
            )
            print(f"  warm - cold {warm - cold:+.1f} ms, ratio {warm / cold:.2f}")
        finally:
            kubo_daemon.stop(work / "kubo")


@contextlib.contextmanager
def serving(env: dict[str, str], home: Path, *options: str) -> Iterator[dict[str, str]]:
    """`env` for clients of a `codsh serve` (with `options`) running meanwhile."""
    server, url = start_server(env, home, *options)
    try:
        yield {**env, "CODSH_API": url}
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)


def trivial_job(cid: str) -> list[str]:
    return [CODSH, "run", "-e", "cat", "--no-memo", "-c", cid]


def report(local: dict[str, str], remote: dict[str, str], cid: str, runs: int) -> None:
    job = trivial_job(cid)
    rows = [
        ("codsh job list", [CODSH, "job", "list"]),
        ("trivial job (1 file)", job),
    ]
    print(f"{runs} runs each after a warm-up; medians")
    print(f"{'command':24} {'here ms':>9} {'via API ms':>11} {'API - here':>11}")
    for name, command in rows:
        here = median_seconds(command, local, runs)[0] * 1000
        api = median_seconds(command, remote, runs)[0] * 1000
        print(f"{name:24} {here:9.1f} {api:11.1f} {api - here:+11.1f}")


def start_report(local: dict[str, str], remote: dict[str, str], cid: str, runs: int) -> None:
    """Exec -> the job's first request: to kubo for a local job, to the API for an API one."""
    job = trivial_job(cid)
    to_kubo = Relay(address_of(local["CODSH_IPFS"]))
    to_api = Relay(address_of(remote["CODSH_API"]))
    relayed = f"http://127.0.0.1:{to_kubo.port}"
    _, here = median_seconds(job, {**local, "CODSH_IPFS": relayed}, runs, to_kubo)
    _, api = median_seconds(
        job, {**remote, "CODSH_API": f"http://127.0.0.1:{to_api.port}"}, runs, to_api
    )
    here, api = here * 1000, api * 1000
    print(f"{'job start (exec -> 1st request)':32} here {here:7.1f} ms  via API {api:7.1f} ms")
    verdict = "within" if api - here <= 50 else "NOT within"
    print(f"  API - here {api - here:+.1f} ms, ratio {api / here:.2f}: {verdict} the 50 ms goal")


def address_of(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


if __name__ == "__main__":
    main()
