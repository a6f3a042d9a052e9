"""CLI startup benchmark: how long `codsh --help`, a TAB completion and `codsh job list` take.

Each command runs N times as a fresh subprocess (after one warm-up run) and the median and minimum
wall times are reported next to `python -c pass`, the interpreter's own start, measured in the same
run. The target for the three codsh commands is a median <= 150 ms. Then one `-X importtime` run
of `import codsh.cli` and one of the TAB completion show which top-level packages the time goes to.

All children run in a throwaway directory (as cwd and as CODSH_HOME) that holds a job store with a
few jobs, so the TAB has candidates to print and `job list` has rows. `--repo PATH` puts PATH first
on the children's PYTHONPATH to measure another checkout's code (e.g. a worktree of HEAD).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 150.0
TOP = 12
JOBS = (  # (id, state, command, output CID) of the seeded history, oldest first
    (
        "a1b2c3d4e5f6",
        "succeeded",
        "grep -c rain",
        "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
    ),
    (
        "b2c3d4e5f6a1",
        "succeeded",
        "wc -l",
        "bafybeibwzifw52ttrkqlikfzext5akxu7lz4xiwjgwzmqcpdzmp3n5vnbe",
    ),
    ("c3d4e5f6a1b2", "error", "sed -e 's/a/b/'", None),
    (
        "d4e5f6a1b2c3",
        "succeeded",
        "sort | uniq -c",
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
    ),
    (
        "e5f6a1b2c3d4",
        "partial",
        "jq .name",
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
    ),
)
INPUT_CID = "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"


@dataclass
class Case:
    name: str
    argv: list[str]
    env: dict[str, str]
    target: bool  # held to TARGET_MS


@dataclass
class Result:
    case: Case
    median_ms: float
    min_ms: float


def child_env(repo: Path, home: Path, pyc: bool) -> dict[str, str]:
    """The environment of every child: `repo` first on PYTHONPATH, `home` as CODSH_HOME.

    With `pyc`, bytecode is cached as on a user's machine, under `home` (PYTHONPYCACHEPREFIX) so
    the measured checkout stays untouched; the warm-up run writes it. Without, an inherited
    PYTHONDONTWRITEBYTECODE stays and every run compiles codsh's modules from source."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("_CODSH_")}
    env.pop("COMP_WORDS", None)
    env.pop("COMP_CWORD", None)
    if pyc:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
    previous = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(repo) + (os.pathsep + previous if previous else "")
    env["CODSH_HOME"] = str(home)
    return env


def run(argv: Sequence[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr.strip()[-2000:]}"
        )
    return done


def seed_history(python: str, env: dict[str, str], home: Path) -> str:
    """Create the job store with the checkout's own JobStore, then add JOBS; says what it made."""
    create = (
        "from codsh.config import jobs_db\n"
        "try:\n    from codsh.jobs.store import JobStore\n"
        "except ImportError:  # before the redesign\n    from codsh.jobs import JobStore\n"
        "JobStore(jobs_db()).close()"
    )
    done = subprocess.run(
        [python, "-c", create], env=env, cwd=home, capture_output=True, text=True, check=False
    )
    path = home / "jobs.sqlite"
    if done.returncode != 0 or not path.exists():
        return f"absent job history (creating it failed: {done.stderr.strip()[-300:]})"
    now = time.time()
    with sqlite3.connect(path) as db:
        for age, (job_id, state, command, output) in enumerate(reversed(JOBS)):
            created = now - 60.0 * (age + 1)
            db.execute(
                "INSERT INTO jobs (id, created, updated, state, pid, runs_on, command, input, mode,"
                " spec, output, files, failed, seconds) VALUES (?, ?, ?, ?, 0, 'this node', ?, ?,"
                " 'per-file', '{}', ?, 3, ?, 1.5)",
                [job_id, created, created + 2, state, command, INPUT_CID, output, int(not output)],
            )
    db.close()
    return f"{len(JOBS)} jobs in {path}"


def cases(python: str, env: dict[str, str]) -> list[Case]:
    complete = {
        **env,
        "_CODSH_COMPLETE": "bash_complete",
        "COMP_WORDS": "codsh job describe ",
        "COMP_CWORD": "3",
    }
    return [
        Case("python -c pass", [python, "-c", "pass"], env, target=False),
        Case("codsh --help", [python, "-m", "codsh", "--help"], env, target=True),
        Case("TAB: codsh job describe <TAB>", [python, "-m", "codsh"], complete, target=True),
        Case("codsh job list", [python, "-m", "codsh", "job", "list"], env, target=True),
    ]


def measure(case: Case, runs: int, cwd: Path) -> Result:
    run(case.argv, case.env, cwd)  # warm-up: page cache, .pyc files
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run(case.argv, case.env, cwd)
        times.append((time.perf_counter() - started) * 1000)
    return Result(case, statistics.median(times), min(times))


def import_times(stderr: str) -> list[tuple[str, float, float]]:
    """(package, cumulative ms, self ms) per top-level package from `-X importtime` output.

    A package's cumulative time sums the cumulative column of its shallowest imports: each module
    of the package that no other module of the same package encloses in the import tree. So it
    includes what the package imports from other packages (docker's includes requests'), and the
    figures overlap; the self column sums the package's own modules' self times and does not."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        fields = line[len("import time:") :].split("|")
        if len(fields) != 3:
            continue
        name = fields[2].rstrip()
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append((depth, int(fields[0]), int(fields[1]), name.strip()))
    cumulative: dict[str, int] = {}
    own: dict[str, int] = {}
    stack: list[
        str
    ] = []  # packages of the enclosing imports; a parent is printed after its children
    for depth, self_us, cum_us, name in reversed(rows):
        package = name.split(".")[0]
        del stack[depth:]
        if package not in stack:
            cumulative[package] = cumulative.get(package, 0) + cum_us
        own[package] = own.get(package, 0) + self_us
        stack.extend([""] * (depth - len(stack)))
        stack.append(package)
    ranked = sorted(cumulative, key=lambda package: cumulative[package], reverse=True)
    return [(package, cumulative[package] / 1000, own[package] / 1000) for package in ranked]


def print_import_times(title: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
    done = run(argv, env, cwd)
    packages = import_times(done.stderr)
    total = sum(own for _, _, own in packages)
    print(f"\n{title}: {total:.0f} ms of imports in all, top {TOP} top-level packages")
    print(f"  {'package':32} {'cumulative ms':>13} {'self ms':>8}")
    for package, cumulative_ms, own_ms in packages[:TOP]:
        print(f"  {package:32} {cumulative_ms:13.1f} {own_ms:8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per command (default 20)")
    parser.add_argument(
        "--repo", type=Path, help="measure this checkout's codsh (first on PYTHONPATH)"
    )
    parser.add_argument(
        "--no-pyc",
        action="store_true",
        help="keep an inherited PYTHONDONTWRITEBYTECODE (compile codsh from source every run)",
    )
    args = parser.parse_args()
    repo = (args.repo or ROOT).resolve()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="codsh-startup-") as scratch:
        home = Path(scratch)  # cwd too: `python -m` puts the cwd first on sys.path
        env = child_env(repo, home, pyc=not args.no_pyc)
        where = run([python, "-c", "import codsh; print(codsh.__file__)"], env, home).stdout.strip()
        print(f"codsh imported from {where}")
        if not Path(where).resolve().is_relative_to(repo):
            raise SystemExit(f"codsh does not come from {repo}")
        print(f"history: {seed_history(python, env, home)}")
        all_cases = cases(python, env)
        tab = all_cases[2]
        candidates = run(tab.argv, tab.env, home).stdout.splitlines()
        print(f"TAB prints {len(candidates)} candidates: {' '.join(candidates)}")
        cache = "off" if env.get("PYTHONDONTWRITEBYTECODE") else "on"
        print(f"{args.runs} runs each after a warm-up, {python}, {os.cpu_count()} cores,", end=" ")
        print(f"bytecode cache {cache}\n")

        results = [measure(case, args.runs, home) for case in all_cases]
        baseline = results[0].median_ms
        print(f"{'command':32} {'median ms':>9} {'min ms':>7} {'-base ms':>8} {'target':>11}")
        for result in results:
            verdict = ""
            if result.case.target:
                verdict = "PASS" if result.median_ms <= TARGET_MS else "MISS"
                verdict = f"<={TARGET_MS:.0f} {verdict}"
            print(
                f"{result.case.name:32} {result.median_ms:9.1f} {result.min_ms:7.1f}"
                f" {result.median_ms - baseline:8.1f} {verdict:>11}"
            )

        importtime = [python, "-X", "importtime"]
        print_import_times("import codsh.cli", [*importtime, "-c", "import codsh.cli"], env, home)
        print_import_times("TAB (python -m codsh)", [*importtime, "-m", "codsh"], tab.env, home)


if __name__ == "__main__":
    main()
