"""Planning at scale: 1,000,000 files over 100 nodes (simulated inventory, each file on 3 nodes).

Prints the planning time (target < 10 s) and the memory the placement adds on top of the file list
(target: bounded, a small multiple of the input), plus the locality it reaches.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from codsh.core.model import InputFile  # noqa: E402
from codsh.core.plan import Node, place  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--memory", action="store_true", help="also trace memory (runs ~4x slower)")
    args = parser.parse_args()
    rng = random.Random(4)
    names = [f"tls://10.0.{i // 256}.{i % 256}:8786" for i in range(args.nodes)]
    nodes = [Node(name, slots=2) for name in names]
    files = [
        InputFile(f"{i // 8760:02d}/{i % 8760:04d}.log", f"bafk{i:055d}", rng.randint(1, 4096))
        for i in range(args.files)
    ]
    holders = {f.cid: frozenset(rng.sample(names, args.replicas)) for f in files}

    if args.memory:
        tracemalloc.start()
    started = time.perf_counter()
    placement = place(files, holders, nodes)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if args.memory else 0
    tracemalloc.stop()

    per_node = placement.shards_per_node()
    print(f"files x nodes:        {args.files:,} x {args.nodes} (each file on {args.replicas})")
    print(f"planning time:        {seconds:.2f} s (target < 10 s)")
    if args.memory:
        print(f"peak extra memory:    {peak / 2**20:.0f} MiB (time above is with tracing on)")
    print(
        f"shards:               {len(placement.tasks):,}, per node {min(per_node.values())}-{max(per_node.values())}"
    )
    print(f"locality:             {placement.locality:.3f}")


if __name__ == "__main__":
    main()
