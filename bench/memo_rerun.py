"""Incremental rerun benchmark: a nightly job on a dataset that grew by 1%, on a 3-node devstack.

Day 1 runs the Lisbon filter over N files (in folders of 1,000) spread over the nodes, each file on
one node; day 2 the dataset has N/100 more files in a new folder and the same job runs again. The memo makes day 2 run only the new
files (target: day 2 / day 1 <= 0.03). A `--no-memo` run of day 2's dataset checks that the rerun's
output CID is exactly a full run's, and is itself the baseline a rerun without the memo would cost.
`--via local` runs the same days on one kubo without a devstack (the CLI runs every shard).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.one_node import FILTER, make_files  # noqa: E402
from codsh import devstack, kubo_daemon  # noqa: E402

CODSH = str(ROOT / ".venv" / "bin" / "codsh")
PER_FOLDER = 1000


def job(cid: str, env: dict[str, str], *extra: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    done = subprocess.run(
        [CODSH, "run", "-e", FILTER, "-c", cid, "--json", "--name", "nightly", *extra],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"codsh failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, json.loads(done.stdout)


Runs = tuple[float, dict[str, Any], float, dict[str, Any], float, dict[str, Any]]


def on_devstack(work: Path, new_files: int, args: argparse.Namespace) -> Runs:
    """Day 1, day 2 and day 2 --no-memo through the devstack (the orchestrator or the scheduler)."""
    try:
        nodes = devstack.up(args.nodes)
        urls = [str(n.api_url) for n in nodes]
        info = devstack.scheduler_info() or {}
        env = {**os.environ, "CODSH_IPFS": urls[0]}
        if args.via == "scheduler":
            env["CODSH_SCHEDULER"] = info["address"]
            env["CODSH_TLS"] = str(devstack.tls_dir())
        else:
            env["CODSH_API"] = devstack.start_orchestrator(urls[0], info["address"])["api"]
            env["CODSH_TOKEN"] = devstack.token_file().read_text().strip()
            env["CODSH_CA"] = str(devstack.tls_dir() / "ca.pem")
        day1 = trio.run(devstack.add_spread, work / "in", 1, urls)
        full, first = job(day1, env)
        make_files(work / "in" / "day-2", new_files, start=args.files)
        day2 = trio.run(devstack.add_spread, work / "in", 1, urls)
        rerun, second = job(day2, env)
        without, check = job(day2, env, "--no-memo")
    finally:
        devstack.down(purge=True)
    return full, first, rerun, second, without, check


def one_node(work: Path, new_files: int, files: int) -> Runs:
    """The same days on this machine alone: one kubo, the CLI running every shard."""
    kubo = kubo_daemon.start(work / "kubo")
    env = {**os.environ, "CODSH_IPFS": kubo.api_url}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's shell caches bytecode

    def added() -> str:
        done = subprocess.run(
            [CODSH, "add", str(work / "in")], env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.split()[-1]

    try:
        full, first = job(added(), env)
        make_files(work / "in" / "day-2", new_files, start=files)
        day2 = added()
        rerun, second = job(day2, env)
        without, check = job(day2, env, "--no-memo")
    finally:
        kubo_daemon.stop(work / "kubo")
    return full, first, rerun, second, without, check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=30_000)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument(
        "--via",
        choices=("api", "scheduler", "local"),
        default="api",
        help="submit through the devstack's orchestrator (as users do), or drive the "
        "scheduler from the CLI (CODSH_SCHEDULER, which imports Dask and connects per job), or "
        "run on this machine alone (one kubo, no devstack: the one-node memo)",
    )
    args = parser.parse_args()
    new_files = max(1, args.files // 100)
    with tempfile.TemporaryDirectory(prefix="codsh-bench-memo-") as tmp:
        work = Path(tmp)
        os.environ["CODSH_HOME"] = str(work / "home")
        for start in range(0, args.files, PER_FOLDER):  # folders: no directory past ~10k entries
            count = min(PER_FOLDER, args.files - start)
            make_files(work / "in" / f"day-1-{start // PER_FOLDER:04d}", count, start)
        if args.via == "local":
            full, first, rerun, second, without, check = one_node(work, new_files, args.files)
        else:
            full, first, rerun, second, without, check = on_devstack(work, new_files, args)
    where = "1 node, no devstack" if args.via == "local" else f"{args.nodes}, each file on 1 node"
    print(f"day 1: files x nodes:           {args.files:,} x {where}")
    print(f"submitted through:              {args.via}")
    print(f"day 1: full run:                {full:6.2f} s")
    print(
        f"day 2: +{new_files} files, rerun:     {rerun:6.2f} s   ratio {rerun / full:.3f} "
        f"(target <= 0.03); {second['reused']:,} files reused, "
        f"{second['files'] - second['reused']} run"
    )
    print(f"day 2: --no-memo run:           {without:6.2f} s")
    same = second["output"] == check["output"]
    print(f"rerun CID == full run's CID:    {same} ({second['output']})")
    print(f"failed files:                   {first['failed']} / {second['failed']}")
    if not same:
        sys.exit("the rerun's output differs from a full run's")


if __name__ == "__main__":
    main()
