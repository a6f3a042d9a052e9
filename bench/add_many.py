"""`codsh add` of 200,000 tiny files (issue 16, finding 7), in one folder and in 60 folders.

Before the fix the add hung for ever at ~45,000 files (kubo's answer and our body both stuck in
full socket queues). For each layout, `codsh add` and kubo's own `ipfs add -r` (the floor: kubo's
speed) each store the tree in a fresh kubo, then compute its CID only (`--only-hash`); this prints
the four times and checks that all gave the same CID. The tests do 20,000-30,000 files (tests/ipfs/test_add_duplex.py,
tests/commands/test_data_cli.py); a 200,000-file add takes minutes, too long for the suite.

    .venv/bin/python bench/add_many.py [--files 200000] [--layout flat|folders|both]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codsh import kubo_daemon  # noqa: E402
from codsh.config import kubo_binary  # noqa: E402

CODSH = str(ROOT / ".venv" / "bin" / "codsh")
CANONICAL = ["--cid-version=1", "--raw-leaves", "--chunker=size-262144"]


def make_tree(root: Path, files: int, folders: int) -> None:
    """`files` files of a few bytes each, spread over `folders` folders (0: all in `root`)."""
    targets = [root / f"folder{i:02d}" for i in range(folders)] or [root]
    for folder in targets:
        folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (targets[i % len(targets)] / f"f{i:06d}.txt").write_bytes(b"%d\n" % i)


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - started, done.stdout.strip()


def one(work: Path, files: int, folders: int) -> None:
    """Each tool stores the tree in a fresh kubo of its own, then both compute CIDs only."""
    tree = work / f"tree-{folders}"
    make_tree(tree, files, folders)
    times: dict[str, float] = {}
    cids: set[str] = set()
    for tool in ("codsh", "ipfs"):
        kubo = kubo_daemon.start(work / f"kubo-{folders}-{tool}")
        env = {**os.environ, "CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(work / "home")}
        env["IPFS_PATH"] = str(kubo.repo)
        ours = [CODSH, "add", str(tree)]
        theirs = [kubo_binary(), "add", "-r", "-Q", *CANONICAL, str(tree)]
        try:
            times[f"{tool} add"], cid = timed(ours if tool == "codsh" else theirs, env)
            cids.add(cid)
            only = [*ours[:2], "--only-hash", *ours[2:]] if tool == "codsh" else [*theirs, "-n"]
            times[f"{tool} only-hash"], cid = timed(only, env)
            cids.add(cid)
        finally:
            kubo_daemon.stop(kubo.repo)
    layout = f"{folders} folders" if folders else "one folder"
    same = "same CID" if len(cids) == 1 else f"DIFFERENT CIDs: {sorted(cids)}"
    shown = "; ".join(f"{label} {seconds:.1f} s" for label, seconds in times.items())
    print(f"{files:,} files in {layout}: {shown}; {same}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--layout", choices=["flat", "folders", "both"], default="both")
    args = parser.parse_args()
    layouts = {"flat": [0], "folders": [60], "both": [0, 60]}[args.layout]
    with tempfile.TemporaryDirectory(prefix="codsh-bench-add-") as tmp:
        for folders in layouts:
            one(Path(tmp), args.files, folders)


if __name__ == "__main__":
    main()
