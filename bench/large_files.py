"""Large files: 1 GiB in 8 files through a sed on one node, codsh vs kubo's own pipe per file.

The baseline is what a user would type without codsh, on the same kubo, the same files: `ipfs cat
CID | sed ... | ipfs add` per file, two at a time (codsh runs two shards at once on this 2-core
machine), measured in the same run. Prints the wall-time ratio (target <= 1.5) and the codsh
process's peak RSS (bounded: it streams, it never holds a file).
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

from bench.one_node import CODSH, FILTER, timed  # noqa: E402
from codsh import kubo_daemon  # noqa: E402

IPFS = str(ROOT / ".tools" / "bin" / "ipfs")


def make_large(folder: Path, files: int, size: int) -> None:
    """`files` logs of `size` bytes, every line distinct (no block repeats in kubo)."""
    folder.mkdir(parents=True)
    for index in range(files):
        with (folder / f"big-{index}.log").open("wb") as out:
            line, written = 0, 0
            while written < size:
                block = "".join(
                    f"2024-01-01T00:00:00Z,38.73{(line + k) % 10}946,-9.14{k % 10}685,{index},{line + k}\n"
                    if (line + k) % 7 == 0
                    else f"2024-01-01T00:00:00Z,41.157944,-8.629105,{index},{line + k}\n"
                    for k in range(4096)
                ).encode()
                out.write(block[: size - written])
                written += min(len(block), size - written)
                line += 4096


def timed_rss(command: list[str], env: dict[str, str]) -> tuple[float, str, float]:
    """Seconds, stdout, and the command's peak RSS in MiB (GNU time's %M)."""
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout.strip(), int(done.stderr.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--mib", type=int, default=128, help="size of each file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="codsh-bench-large-") as tmp:
        work = Path(tmp)
        make_large(work / "in", args.files, args.mib << 20)
        kubo = kubo_daemon.start(work / "kubo")
        env = {**os.environ, "CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(work / "home")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["IPFS_PATH"] = str(work / "kubo")
        try:
            _, cid = timed([CODSH, "add", str(work / "in")], env=env)
            listing = subprocess.run(
                [IPFS, "ls", cid], env=env, capture_output=True, text=True, check=True
            )
            cids = [line.split()[0] for line in listing.stdout.splitlines()]
            pipe = f"{IPFS} cat $0 | {FILTER} | {IPFS} add -Q --cid-version=1 --raw-leaves"
            started = time.perf_counter()
            subprocess.run(
                ["xargs", "-P2", "-n1", "sh", "-c", pipe],
                input="\n".join(cids),
                env=env,
                text=True,
                capture_output=True,
                check=True,
            )
            baseline = time.perf_counter() - started
            run = [CODSH, "run", "--no-memo", "-e", FILTER, "-c", cid]
            codsh, out_cid, rss = timed_rss(run, env)
        finally:
            kubo_daemon.stop(work / "kubo")
    total = args.files * args.mib
    print(f"files:                              {args.files} x {args.mib} MiB = {total} MiB")
    print(f"ipfs cat | sed | ipfs add, -P2:     {baseline:6.2f} s")
    print(
        f"codsh, one node:                    {codsh:6.2f} s   ratio {codsh / baseline:.2f} (target <= 1.5)"
    )
    print(f"codsh throughput:                   {total / codsh:6.1f} MiB/s")
    print(
        f"codsh process peak RSS:             {rss:6.1f} MiB (it streams: bounded whatever the size)"
    )
    print(f"output CID:                         {out_cid}")


if __name__ == "__main__":
    main()
