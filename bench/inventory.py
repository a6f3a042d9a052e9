"""The inventory's cost against the pins a node holds (issue 16, finding 11).

One kubo of its own; at each step more tiny files are added under one pinned folder (the cheap
way to a long pin list). Printed per step: the old inventory (every pin listed, indirect ones
too: `pin ls --type=all`) and the new one (the job's CIDs only, cluster/held.py) for a 6-file
and a 1,000-file job.

    .venv/bin/python bench/inventory.py [--steps 0,10000,40000]

Planning at scale (issue 13), `--scale 100000,1000000`: one kubo holds HELD tiny files (one
pinned folder); the inventory's question is the job's CIDs, each of which every node is sent and
asks its kubo about one by one (cluster/held.py). Printed per job size: the question's bytes
(pickled, as `client.run` sends it: once per node), the seconds one node takes to answer, and
for comparison one `pin ls --type=recursive --arg ROOT` (does this node pin the whole input?).
Past HELD files the question names files the node lacks (a block/stat that says "not here").
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import subprocess
import tempfile
import time
from pathlib import Path

import trio

from codsh import kubo_daemon
from codsh.cluster.held import BlockIndex, stored
from codsh.config import kubo_binary
from codsh.core.unixfs import raw_cid
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


PER_CID_UP_TO = 100_000  # the old way past this takes many minutes (497 s at 1,000,000)


def scale(sizes: list[int], held: int) -> None:
    """The inventory round's cost against the job's size, one node's share measured."""
    with tempfile.TemporaryDirectory() as work:
        process = kubo_daemon.start(Path(work) / "repo")
        try:
            started = time.monotonic()
            add_folder(process.repo, Path(work) / "held", 0, held)
            print(f"added {held:,} files in {time.monotonic() - started:.0f} s")
            root = root_of(process.repo)
            cids = [raw_cid(f"tiny {index}\n".encode()) for index in range(max(sizes))]
            print(
                "files      question (1 node)   answer (held)   per CID (old)"
                "   block index: first, next   root pinned?"
            )
            for size in sizes:
                question = cids[:size]
                started = time.monotonic()
                found = (
                    trio.run(stored, process.api_url, question) if size <= PER_CID_UP_TO else set()
                )
                seconds = time.monotonic() - started
                index = BlockIndex()  # a node's, as it answers its first big question, then again
                started = time.monotonic()
                indexed = trio.run(index.stored, process.api_url, question)
                first = time.monotonic() - started
                started = time.monotonic()
                trio.run(index.stored, process.api_url, question)
                again = time.monotonic() - started
                assert size > PER_CID_UP_TO or indexed == found, "the index disagrees with kubo"
                found = indexed
                sent = len(pickle.dumps(sorted(question)))
                answer = len(pickle.dumps(tuple(sorted(found))))
                pinned = pin_check(process.repo, root)
                print(
                    f"{size:>9,}   {sent / 2**20:>12.1f} MiB   {answer / 2**20:>4.1f} MiB"
                    f" ({len(found):,})"
                    f"   {seconds if size <= PER_CID_UP_TO else math.nan:>11.1f} s"
                    f"   {first:>9.1f} s, {again:.1f} s   {pinned * 1000:>9.0f} ms"
                )
        finally:
            kubo_daemon.stop(process.repo)


def root_of(repo: Path) -> str:
    env = {**os.environ, "IPFS_PATH": str(repo)}
    listed = [kubo_binary(), "pin", "ls", "--type=recursive", "-q"]
    return subprocess.run(
        listed, env=env, check=True, capture_output=True, text=True
    ).stdout.split()[0]


def pin_check(repo: Path, root: str) -> float:
    """Seconds for `ipfs pin ls --type=recursive ROOT` (the CLI's start included)."""
    env = {**os.environ, "IPFS_PATH": str(repo)}
    started = time.monotonic()
    args = [kubo_binary(), "pin", "ls", "--type=recursive", root]
    subprocess.run(args, env=env, check=True, capture_output=True)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", default="0,10000,40000,100000")
    parser.add_argument("--scale", help="job sizes in files, e.g. 100000,1000000")
    parser.add_argument("--held", type=int, default=100_000, help="files the node holds")
    args = parser.parse_args()
    if args.scale:
        scale([int(size) for size in args.scale.split(",")], args.held)
        return
    steps = [int(step) for step in args.steps.split(",")]
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
