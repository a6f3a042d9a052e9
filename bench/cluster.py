"""Cluster benchmark: 10,000 small log files spread over a 3-node devstack, each file on one node.

Compares codsh on the cluster with a local per-file loop over the same files on disk (target ratio
<= 3), and reports the locality ratio (target 1.0) and the bytes the nodes received from each other
over bitswap during the job (target: only output blocks, which the driver's `cat` pulls afterwards).
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

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.one_node import FILTER, make_files  # noqa: E402
from codsh import devstack  # noqa: E402
from codsh.ipfs.client import KuboClient  # noqa: E402

CODSH = str(ROOT / ".venv" / "bin" / "codsh")


async def received(urls: list[str]) -> int:
    total = 0
    for url in urls:
        async with KuboClient(url) as ipfs:
            total += await ipfs.bitswap_received()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="codsh-bench-cluster-") as tmp:
        work = Path(tmp)
        os.environ["CODSH_HOME"] = str(work / "home")
        make_files(work / "in", args.files)
        (work / "out").mkdir()
        try:
            nodes = devstack.up(args.nodes)
            urls = [str(n.api_url) for n in nodes]
            cid = trio.run(devstack.add_spread, work / "in", 1, urls)
            info = devstack.scheduler_info() or {}
            env = {
                **os.environ,
                "CODSH_IPFS": urls[0],
                "CODSH_SCHEDULER": info["address"],
                "CODSH_TLS": str(devstack.tls_dir()),
            }
            started = time.perf_counter()
            subprocess.run(
                f"find {work / 'in'} -type f | xargs -P2 -n1 sh -c "
                f'\'sed -n "/38.7[2-4]....,-9.1[3-5]..../p" < "$1" > {work / "out"}/$(basename "$1")\' _',
                shell=True,
                check=True,
            )
            baseline = time.perf_counter() - started
            before = trio.run(received, urls)
            started = time.perf_counter()
            done = subprocess.run(
                [CODSH, "run", "-e", FILTER, "-c", cid, "--json"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            codsh = time.perf_counter() - started
            moved = trio.run(received, urls) - before
        finally:
            devstack.down(purge=True)
    if done.returncode != 0:
        sys.exit(f"codsh failed ({done.returncode}): {done.stderr[-2000:]}")
    record = json.loads(done.stdout)
    placement = record["placement"]
    print(f"files x nodes:                  {args.files:,} x {args.nodes}, each file on 1 node")
    print(f"local loop (find | xargs -P2):  {baseline:6.2f} s")
    print(
        f"codsh on the cluster:           {codsh:6.2f} s   ratio {codsh / baseline:.2f} (target <= 2, issue 15)"
    )
    print(f"locality ratio:                 {placement['locality']:.3f} (target 1.0)")
    print(f"shards per node:                {placement['shards_per_node']}")
    print(
        f"bitswap bytes between nodes:    {moved:,} during the job (input bytes: {placement['bytes_total']:,})"
    )
    print(f"failed files:                   {record['failed']}")


if __name__ == "__main__":
    main()
