"""Python-function benchmark: 300 small images through a Pillow function, codsh vs a local loop.

Issue 15's target: a `-f` job over 300 small files within 2x of the same function called in a local
loop. Both run here, now: the local loop is one Python process (this venv's Pillow, the version the
bundle pins) that imports the script once and calls the function per file on disk, writing one
output per input; codsh runs the same function from a bundle (`codsh fn pack`, packed once, so
`pip download` is not timed) over the same files in its own kubo, its environment built by a
warm-up job on other files first. Prints both, the ratio, codsh's per-file overhead, and checks that
the outputs are the same bytes (the output CID equals `codsh add` of the local loop's outputs).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import PIL  # noqa: E402
from PIL import Image  # noqa: E402

from codsh import kubo_daemon  # noqa: E402

CODSH = str(ROOT / ".venv" / "bin" / "codsh")
PROCESS = textwrap.dedent(
    """
    import io
    from PIL import Image

    def downscale(infile):
        image = Image.open(infile)
        image.load()
        gray = image.convert("L")
        gray.thumbnail((64, 64))
        out = io.BytesIO()
        gray.save(out, format="PNG", optimize=True)
        return out.getvalue()
    """
)
LOCAL_LOOP = textwrap.dedent(
    """
    import importlib.util, sys
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("process", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = Path(sys.argv[3])
    for path in sorted(Path(sys.argv[2]).iterdir()):
        with path.open("rb") as infile:
            (out / path.name).write_bytes(module.downscale(infile))
    """
)


def make_images(folder: Path, count: int, start: int = 0, size: int = 160) -> None:
    """Small PNG frames (`size` px noise, ~77 KB each), every one different."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(start, start + count):
        rng = random.Random(index)
        image = Image.frombytes("RGB", (size, size), rng.randbytes(size * size * 3))
        image.save(folder / f"frame-{index:04d}.png")


def timed(command: list[str], **kwargs: object) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{command[:3]} failed ({done.returncode}): {done.stderr[-3000:]}")
    return seconds, str(done.stdout).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--reps", type=int, default=1, help="codsh and local runs (medians)")
    parser.add_argument(
        "--preinit",
        action="store_true",
        help="call Image.preinit() at import (Pillow's format plugins, else loaded per file)",
    )
    args = parser.parse_args()
    script = PROCESS.replace("from PIL import Image\n", "from PIL import Image\nImage.preinit()\n")
    with tempfile.TemporaryDirectory(prefix="codsh-bench-pyfn-") as tmp:
        work = Path(tmp)
        project = work / "project"
        project.mkdir()
        (project / "process.py").write_text(script if args.preinit else PROCESS)
        (project / "requirements.txt").write_text(f"Pillow=={PIL.__version__}\n")
        (project / "codsh.toml").write_text(
            '[function]\nscript = "process.py"\nname = "downscale"\n'
        )
        make_images(work / "in", args.files)
        make_images(work / "warm", 2, start=args.files)
        kubo = kubo_daemon.start(work / "kubo")
        env = {**os.environ, "CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(work / "home")}
        try:
            _, bundle = timed([CODSH, "fn", "pack", str(project)], env=env)
            _, cid = timed([CODSH, "add", str(work / "in")], env=env)
            _, warm = timed([CODSH, "add", str(work / "warm")], env=env)
            build, _ = timed([CODSH, "run", "-x", bundle, "-c", warm], env=env)
            local_times, codsh_times, record = [], [], {}
            for rep in range(args.reps):
                out = work / f"out-{rep}"
                out.mkdir()
                loop = [sys.executable, "-c", LOCAL_LOOP, str(project / "process.py")]
                local_times.append(timed([*loop, str(work / "in"), str(out)])[0])
                job = [CODSH, "run", "-x", bundle, "-c", cid, "--json", "--no-memo"]
                seconds, printed = timed(job, env=env)
                codsh_times.append(seconds)
                record = json.loads(printed)
            floor, _ = timed([CODSH, "run", "-e", "cat", "-c", cid, "--no-memo"], env=env)
            _, local_cid = timed([CODSH, "add", str(work / "out-0")], env=env)
            trivial, _ = timed(
                [
                    CODSH,
                    "run",
                    "-x",
                    bundle,
                    "-c",
                    f"{warm}/frame-{args.files:04d}.png",
                    "--no-memo",
                ],
                env=env,
            )
        finally:
            kubo_daemon.stop(work / "kubo")
    local, codsh = (
        sorted(local_times)[len(local_times) // 2],
        sorted(codsh_times)[len(codsh_times) // 2],
    )
    same = (
        "yes"
        if record.get("output") == local_cid
        else f"NO ({record.get('output')} vs {local_cid})"
    )
    print(f"files:                        {args.files} ({args.reps} rep(s), medians)")
    print(f"local loop (one process):     {local:6.2f} s   {local_times}")
    print(f"codsh -x bundle, one node:    {codsh:6.2f} s   ratio {codsh / local:.2f} (target <= 2)")
    print(f"codsh per-file overhead:      {(codsh - local) / args.files * 1000:6.2f} ms")
    print(f"codsh -e cat, same files:     {floor:6.2f} s   (the per-file floor of any command)")
    print(f"codsh trivial job (1 file):   {trivial:6.2f} s")
    print(f"warm-up (environment build):  {build:6.2f} s")
    print(f"same outputs as the loop:     {same}")


if __name__ == "__main__":
    main()
