"""A job through the orchestrator against the same job run here, measured in one run.

Starts a kubo node and `codsh serve` (its jobs on this machine), then times, as medians of N runs
each: `codsh job list` (a client's start and one call) and a trivial one-file job
(`codsh run -e cat --no-memo`), once in-process (the embedded default) and once through the API
(CODSH_API + CODSH_TOKEN). The issue's goal: a job submitted through the API starts within 50 ms
of a local one.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codsh import kubo_daemon  # noqa: E402

CODSH = str(ROOT / ".venv" / "bin" / "codsh")


def median_seconds(command: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs + 1):  # the first is a warm-up
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


def start_server(env: dict[str, str], home: Path) -> tuple[subprocess.Popen[bytes], str]:
    log = (home / "serve.log").open("wb")
    proc = subprocess.Popen(
        [CODSH, "serve", "--bind", "127.0.0.1:0"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
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
            server, url = start_server(local, work / "home")
            remote = {**local, "CODSH_API": url, "CODSH_TOKEN": token}
            try:
                report(local, remote, cid, args.runs)
            finally:
                server.send_signal(signal.SIGINT)
                server.wait(timeout=20)
        finally:
            kubo_daemon.stop(work / "kubo")


def report(local: dict[str, str], remote: dict[str, str], cid: str, runs: int) -> None:
    job = [CODSH, "run", "-e", "cat", "--no-memo", "-c", cid]
    rows = [
        ("codsh job list", [CODSH, "job", "list"]),
        ("trivial job (1 file)", job),
    ]
    print(f"{runs} runs each after a warm-up; medians")
    print(f"{'command':24} {'here ms':>9} {'via API ms':>11} {'API - here':>11}")
    for name, command in rows:
        here = median_seconds(command, local, runs) * 1000
        api = median_seconds(command, remote, runs) * 1000
        print(f"{name:24} {here:9.1f} {api:11.1f} {api - here:+11.1f}")


if __name__ == "__main__":
    main()
