"""Trees whose CIDs kubo computed (tests/core/data/hamt_cids.json), and how to rebuild them.

Each case is a list of (path, content). `python -m tests.core.hamt_cases OUT.json` writes the
trees to a temporary folder and records what `ipfs add -r --cid-version=1 --raw-leaves` of kubo
0.42 answers for each, so the unit tests compare codsh's layout with kubo's without a daemon.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

# "00000.txt" (9 bytes) + a 36-byte CIDv1: 45 bytes per entry in boxo's estimate; 256 KiB is
# 262,144 bytes, so 5,824 such entries and one of 28 bytes are exactly at the threshold.
_AT_THRESHOLD = [f"{i:05d}.txt" for i in range(5824)] + ["x" * 28]


def _flat(names: list[str], folder: str = "") -> list[tuple[str, bytes]]:
    return [(f"{folder}{name}", f"{i}\n".encode()) for i, name in enumerate(names)]


def cases() -> dict[str, list[tuple[str, bytes]]]:
    return {
        "flat-20": _flat([f"{i:05d}.txt" for i in range(20)]),
        "at-threshold-basic": _flat(_AT_THRESHOLD),
        "one-byte-over-hamt": _flat(_AT_THRESHOLD[:-1] + ["x" * 29]),
        "flat-20000": _flat([f"{i:05d}.txt" for i in range(20000)]),
        "unicode-long-names": _flat([f"Grüße-{i:04d}-{'é' * 100}" for i in range(1500)]),
        "nested-100000": _flat([f"{i:06d}.log" for i in range(100_000)], "logs/hourly/")
        + [("README", b"hourly logs\n"), ("logs/small/a", b"a\n"), ("logs/small/b", b"")],
    }


def write_tree(root: Path, files: list[tuple[str, bytes]]) -> None:
    for path, content in files:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def kubo_cid(ipfs: str, folder: Path) -> str:
    """What kubo's own recursive add gives (offline, hashing only)."""
    done = subprocess.run(
        [ipfs, "add", "-r", "-Q", "--only-hash", "--cid-version=1", "--raw-leaves", str(folder)],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def main(out: str, ipfs: str = "ipfs") -> None:
    result = {}
    for name, files in cases().items():
        with tempfile.TemporaryDirectory() as tmp:
            write_tree(Path(tmp) / "tree", files)
            result[name] = kubo_cid(ipfs, Path(tmp) / "tree")
            print(name, result[name], flush=True)
    Path(out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
