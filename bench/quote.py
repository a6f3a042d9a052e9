"""Quote vs bill on a 3-node devstack (issue 12): how close `codsh job quote` comes to the metered
bill of the whole job, and what `--replicas 3` costs against one run.

Two datasets, each stored one copy per file over the nodes (`devstack add --spread 1`):
- logs: many small sensor-log text files of varied sizes (1 to ~400 lines), a grep + cut per file;
- images: larger binary files (1-4 MB, half noise, deterministic), gzip per file.
Each is quoted (`codsh job quote --json`), then run whole with `--no-memo` (every file billed,
the sample's too) and its bill read back (`codsh job describe --json`); the ratio quote / bill
is printed (target: 0.75-1.25 on both). Then the logs job with `--replicas 3`, quoted and run
the same way: its bill over the one-replica bill (target <= 3.2x), with the logs stored on one
node per file (the two other replicas fetch) and on every node (`--spread 3`: all read locally).

    .venv/bin/python bench/quote.py [--logs 400] [--images 24]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codsh import devstack  # noqa: E402

CODSH = str(ROOT / ".venv" / "bin" / "codsh")
LOGS_CMD = "grep ',38.7' | cut -d, -f1,4,6"
IMAGES_CMD = "gzip -1 | wc -c"


def make_logs(folder: Path, count: int) -> None:
    """Sensor logs of 1 to ~400 lines, sizes spread log-normally (many small, a few large)."""
    rng = random.Random(12)
    folder.mkdir(parents=True)
    for index in range(count):
        lines = max(1, min(400, int(rng.lognormvariate(3.5, 1.0))))
        rows = [
            f"2024-01-{1 + index % 28:02d}T{m // 60 % 24:02d}:{m % 60:02d}:00Z,"
            f"{38.7 + rng.random() / 10:.6f},{-9.1 - rng.random() / 10:.6f},"
            f"{rng.uniform(5, 30):.1f},{rng.uniform(990, 1030):.1f},{rng.random():.2f}"
            for m in range(lines)
        ]
        (folder / f"sensor-{index:05d}.log").write_text("\n".join(rows) + "\n")


def make_images(folder: Path, count: int) -> None:
    """`count` binary files of 1-4 MB: half noise, half zeros (gzip has work of both kinds)."""
    rng = random.Random(7)
    folder.mkdir(parents=True)
    for index in range(count):
        size = rng.randint(1 << 20, 4 << 20)
        noise = rng.randbytes(size // 2)
        (folder / f"frame-{index:03d}.raw").write_bytes(noise + bytes(size - size // 2))


def codsh(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run([CODSH, *args, "--json"], env=env, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        sys.exit(f"codsh {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.splitlines()[-1]))


def quote_and_bill(
    env: dict[str, str], cmd: str, cid: str, *extra: str
) -> tuple[dict[str, Any], float]:
    """The quote of `cmd` over `cid`, and the bill of the whole job run afterwards (--no-memo:
    the sampled files are billed again, so the bill is every file's)."""
    quote = codsh(env, "job", "quote", "-e", cmd, "-c", cid, *extra)
    job = codsh(env, "job", "submit", "-e", cmd, "-c", cid, "--no-memo", *extra)
    described = codsh(env, "job", "describe", job["job"])
    return quote, float(described["bill"]["total"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--logs", type=int, default=400)
    parser.add_argument("--images", type=int, default=24)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="codsh-bench-quote-") as tmp:
        work = Path(tmp)
        os.environ["CODSH_HOME"] = str(work / "home")
        make_logs(work / "logs", args.logs)
        make_images(work / "images", args.images)
        try:
            nodes = devstack.up(3)
            urls = [str(n.api_url) for n in nodes]
            info = devstack.scheduler_info() or {}
            env = {
                **os.environ,
                "CODSH_IPFS": urls[0],
                "CODSH_SCHEDULER": info["address"],
                "CODSH_TLS": str(devstack.tls_dir()),
            }
            env.pop("CODSH_API", None)
            logs = trio.run(devstack.add_spread, work / "logs", 1, urls)
            images = trio.run(devstack.add_spread, work / "images", 1, urls)
            rows = []
            for name, cmd, cid in (("logs", LOGS_CMD, logs), ("images", IMAGES_CMD, images)):
                quote, billed = quote_and_bill(env, cmd, cid)
                rows.append((name, quote, billed))
            one = rows[0][2]
            quote3, three = quote_and_bill(env, LOGS_CMD, logs, "--replicas", "3")
            rows.append(("logs x3", quote3, three))
            everywhere = trio.run(devstack.add_spread, work / "logs", 3, urls)
            one_local = quote_and_bill(env, LOGS_CMD, everywhere)[1]
            three_local = quote_and_bill(env, LOGS_CMD, everywhere, "--replicas", "3")[1]
        finally:
            devstack.down(purge=True)
    for name, quote, billed in rows:
        print(
            f"{name:8} {quote['files']:5} files {quote['bytes']:>11,} bytes | sampled "
            f"{quote['sampled']:2} | quote {quote['estimate']:.4g} ({quote['low']:.4g}-"
            f"{quote['high']:.4g}) | bill {billed:.4g} | quote/bill {quote['estimate'] / billed:.2f}"
        )
    print(f"replicas 3 / 1, each file on 1 node:   {three / one:.2f}x (target <= 3.2)")
    print(f"replicas 3 / 1, each file on 3 nodes:  {three_local / one_local:.2f}x")


if __name__ == "__main__":
    main()
