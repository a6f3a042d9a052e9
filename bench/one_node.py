"""One-node benchmark: a sed over 2,000 small log files, codsh vs a local per-file loop.

Both run in this process's machine, now: the baseline is `find | xargs -P2 -n1` writing one output
per input from files on disk; codsh reads the same files from its own kubo and writes the outputs
back to it. Prints the wall-time ratio (target <= 3) and codsh's per-file overhead, plus a trivial
one-file job (the peer, Bacalhau v1.9.3, was measured at 0.56 s for a trivial job and 6.7 s for this
sed from IPFS on this kind of machine).
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

CODSH = str(ROOT / ".venv" / "bin" / "codsh")
FILTER = "sed -n '/38.7[2-4]....,-9.1[3-5]..../p'"


def make_files(folder: Path, count: int, start: int = 0) -> None:
    """Sensor logs `sensor-{start}.log`...; every file's bytes differ (no two are computed once)."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(start, start + count):
        lines = [
            f"2024-01-01T{index % 24:02d}:{minute:02d}:00Z,38.73{index % 10}946,-9.14{minute % 10}685,14.2,1013.2,0.4,s{index:06d}"
            if minute % 3 == 0
            else f"2024-01-01T{index % 24:02d}:{minute:02d}:00Z,41.157944,-8.629105,12.0,1010.0,0.0,s{index:06d}"
            for minute in range(20)
        ]
        (folder / f"sensor-{index:05d}.log").write_text("\n".join(lines) + "\n")


def timed(command: list[str] | str, **kwargs: object) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    return time.perf_counter() - started, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="codsh-bench-") as tmp:
        work = Path(tmp)
        make_files(work / "in", args.files)
        (work / "out").mkdir()
        kubo = kubo_daemon.start(work / "kubo")
        env = {**os.environ, "CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(work / "home")}
        try:
            _, cid = timed([CODSH, "add", str(work / "in")], env=env)
            baseline, _ = timed(
                f"find {work / 'in'} -type f | xargs -P2 -n1 sh -c "
                f'\'{FILTER.replace(chr(39), chr(39) + chr(92) + chr(39) + chr(39))} < "$1" > {work / "out"}/$(basename "$1")\' _',
                shell=True,
            )
            codsh, out_cid = timed([CODSH, "run", "-e", FILTER, "-c", cid], env=env)
            one_file = cid + "/sensor-00000.log"
            trivial, _ = timed([CODSH, "run", "-e", "cat", "-c", one_file], env=env)
        finally:
            kubo_daemon.stop(work / "kubo")
    ratio = codsh / baseline
    print(f"files:                         {args.files}")
    print(f"local loop (find | xargs -P2): {baseline:6.2f} s")
    print(f"codsh, one node:               {codsh:6.2f} s   ratio {ratio:.2f} (target <= 3)")
    print(f"codsh per-file overhead:       {(codsh - baseline) / args.files * 1000:6.2f} ms")
    print(f"codsh trivial job (1 file):    {trivial:6.2f} s   (Bacalhau v1.9.3: 0.56 s)")
    print(f"output CID:                    {out_cid}")


if __name__ == "__main__":
    main()
