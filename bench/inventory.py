"""The inventory's cost against the pins a node holds (issue 16, finding 11).

One kubo of its own; at each step more tiny files are added under one pinned folder (the cheap
way to a long pin list). Printed per step: the old inventory (every pin listed, indirect ones
too: `pin ls --type=all`) and the new one (the job's CIDs only, cluster/held.py) for a 6-file
and a 1,000-file job.

    .venv/bin/python bench/inventory.py [--steps 0,10000,40000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import trio

from codsh import kubo_daemon
from codsh.cluster.held import stored
from codsh.config import kubo_binary
from codsh.ipfs.client import KuboClient


def add_folder(repo: Path, folder: Path, start: int, count: int) -> None:
    folder.mkdir()
    for index in range(start, start + count):
        (folder / f"{index}.txt").write_text(f"tiny {index}\n")
    args = [kubo_binary(), "add", "-r", "-Q", "--raw-leaves", "--cid-version=1", str(folder)]
    env = {**os.environ, "IPFS_PATH": str(repo)}
    subprocess.run(args, env=env, check=True, capture_output=True)


async def measure(api: str) -> tuple[int, float, list[str]]:
    async with KuboClient(api) as ipfs:
        started = time.monotonic()
        pins = await ipfs.pin_ls()
        return len(pins), time.monotonic() - started, sorted(pins)


async def ask(api: str, cids: list[str]) -> float:
    started = time.monotonic()
    await stored(api, cids)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", default="0,10000,40000,100000")
    steps = [int(step) for step in parser.parse_args().steps.split(",")]
    with tempfile.TemporaryDirectory() as work:
        process = kubo_daemon.start(Path(work) / "repo")
        try:
            print("pins      old: pin ls all   new: 6 CIDs   new: 1000 CIDs")
            added = 0
            for step in steps:
                if step > added:
                    add_folder(process.repo, Path(work) / f"f{step}", added, step - added)
                    added = step
                count, listed, pins = trio.run(measure, process.api_url)
                few = pins[:6] or ["bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"]
                many = (pins * 1000)[:1000] if pins else few
                six = trio.run(ask, process.api_url, few)
                thousand = trio.run(ask, process.api_url, many)
                print(f"{count:>7}   {listed:>10.3f} s   {six:>9.4f} s   {thousand:>10.3f} s")
        finally:
            kubo_daemon.stop(process.repo)


if __name__ == "__main__":
    main()
