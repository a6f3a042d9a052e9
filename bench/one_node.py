"""One-node benchmark: a sed over 2,000 small log files, codsh vs local loops (and Bacalhau).

All run on this machine, now: the baselines are one busybox sh running sed per file and `find |
xargs -P2 -n1`, both writing one output per input from files on disk; codsh reads the same files
from its own kubo and writes the outputs back to it. Bacalhau runs beside it when a `bacalhau`
binary is on PATH (or named by BACALHAU). Prints codsh's ratio to the one-shell loop (target <=
1.5), its process CPU per file (target <= 0.3 ms) and a trivial one-file job (target <= 0.3 s;
Bacalhau v1.9.3 was measured here at 0.58 s, and at 6.5 s for this sed with --cpu 1.5).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
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
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise SystemExit(f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started, done.stdout.strip()


def child_cpu() -> float:
    """CPU seconds of the waited-for children so far (codsh's own process: the containers are
    the Docker engine's children, not its)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def local_loops(work: Path) -> dict[str, float]:
    """The baselines, from files on disk: one busybox sh running sed per file, and xargs -P2."""
    quoted = FILTER.replace("'", "'\\''")
    inputs, out = work / "in", work / "out"
    loop = f'for f in {inputs}/*; do {FILTER} < "$f" > {out}/"${{f##*/}}"; done'
    xargs = (
        f"find {inputs} -type f | xargs -P2 -n1 sh -c "
        f'\'{quoted} < "$1" > {out}/$(basename "$1")\' _'
    )
    return {
        "local loop (one busybox sh)": timed(["busybox", "sh", "-c", loop])[0],
        "local loop (xargs -P2)": timed(xargs, shell=True)[0],
    }


def bacalhau(cid: str) -> float | None:
    """Bacalhau running the same sed over the same CID, when a `bacalhau` binary is on PATH (or
    named by BACALHAU) with a node that reaches this kubo; None otherwise."""
    binary = os.environ.get("BACALHAU") or shutil.which("bacalhau")
    if not binary:
        return None
    command = [binary, "docker", "run", "--wait", "--cpu", "1.5", "-i", f"ipfs://{cid}:/in"]
    command += ["busybox", "--", "sh", "-c", f"for f in /in/*; do {FILTER} < $f; done"]
    try:
        return timed(command)[0]
    except subprocess.CalledProcessError as exc:
        print(f"bacalhau failed ({exc.returncode}): {exc.stderr.strip()[:200]}")
        return None


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
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's shell caches bytecode
        try:
            _, cid = timed([CODSH, "add", str(work / "in")], env=env)
            baselines = local_loops(work)
            cpu_before = child_cpu()
            codsh, out_cid = timed([CODSH, "run", "-e", FILTER, "-c", cid], env=env)
            cpu = child_cpu() - cpu_before
            one_file = cid + "/sensor-00000.log"
            timed([CODSH, "run", "-e", "cat", "-c", one_file], env=env)  # images warm
            trivial, _ = timed(  # run again, not the first run's result reused
                [CODSH, "run", "-e", "cat", "--no-memo", "-c", one_file], env=env
            )
            peer = bacalhau(cid)
        finally:
            kubo_daemon.stop(work / "kubo")
    loop = baselines["local loop (one busybox sh)"]
    print(f"files:                         {args.files}")
    for name, seconds in baselines.items():
        print(f"{name + ':':31}{seconds:6.2f} s")
    print(
        f"codsh, one node:               {codsh:6.2f} s   {codsh / loop:.2f}x the one-shell loop (target <= 1.5)"
    )
    if peer is not None:
        print(
            f"Bacalhau --cpu 1.5, same run:  {peer:6.2f} s   codsh/Bacalhau {codsh / peer:.2f} (target <= 0.5)"
        )
    else:
        print(
            "Bacalhau:                      not on PATH (set BACALHAU); measured here before: 6.5 s"
        )
    print(f"codsh process CPU per file:    {cpu / args.files * 1000:6.2f} ms (target <= 0.3)")
    print(
        f"codsh per-file overhead:       {(codsh - loop) / args.files * 1000:6.2f} ms over the loop"
    )
    print(
        f"codsh trivial job (1 file):    {trivial:6.2f} s   (target <= 0.3; Bacalhau v1.9.3: 0.58 s)"
    )
    print(f"output CID:                    {out_cid}")


if __name__ == "__main__":
    main()
