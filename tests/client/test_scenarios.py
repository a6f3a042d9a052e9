"""The design's three scenarios exactly as docs/sdk.md shows them: each Python block there that
starts with `# NAME.py:` is written to a folder and run as a user would run it (`python NAME.py
ARGS`), through the orchestrator (CODSH_API + a token, no kubo) and in-process (the local kubo)."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import uuid
from pathlib import Path

import codsh
from tests.commands.cli import Tree, write_tree

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"
BLOCK = re.compile(r"```python\n(# (\w+\.py):.*?)```", re.DOTALL)
SED = "sed -n '/38.7[2-4]....,-9.1[3-5]..../p'"  # the design's filter, as the docs run it
LISBON = re.compile(r"38\.7[2-4]....,-9\.1[3-5]....")


def scripts(folder: Path) -> Path:
    """The docs' scripts, written to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    text = DOCS.read_text()
    assert text.count(SED) >= 2
    found = BLOCK.findall(text)
    for code, name in found:
        (folder / name).write_text(code)
    assert {name for _, name in found} >= {
        "nightly.py",
        "stations.py",
        "per_file.py",
        "lisbon.py",
        "count_lines.py",
    }
    return folder


def run(env: dict[str, str], folder: Path, script: str, *args: str) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, script, *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def connect(env: dict[str, str]) -> codsh.Client:
    """A client of the test's own, where the scripts run."""
    return codsh.connect(env.get("CODSH_API"), env.get("CODSH_TOKEN"), ipfs=env.get("CODSH_IPFS"))


def day_logs(day: int, tag: str) -> Tree:
    return {
        f"2024-06-0{day}/station-{n}.log": (
            f"2024-06-0{day} 0{n}:00:00, 38.73{n}000,-9.14{n}000, 1{n}.5, {tag}\n"
            f"2024-06-0{day} 0{n}:00:01, 41.000000,-8.600000, 2{n}.0, {tag}\n"
        ).encode()
        for n in range(1, 3)
    }


def test_scenario_1_the_nightly_rerun_runs_only_the_new_files(
    script_env: dict[str, str], tmp_path: Path
) -> None:
    folder = scripts(tmp_path / "scripts")
    client = connect(script_env)
    tag = uuid.uuid4().hex
    first = write_tree(tmp_path / "data", day_logs(1, tag))
    day1 = client.add(first)
    out1, err1 = run(script_env, folder, "nightly.py", day1)
    assert "2 files, 0 from earlier nights" in err1
    day2 = client.add(write_tree(first, day_logs(2, tag)))  # the dataset grew: a new CID
    out2, err2 = run(script_env, folder, "nightly.py", day2)
    assert "4 files, 2 from earlier nights" in err2
    full = client.submit(SED, day2, memo=False)
    assert out2.strip() == full.result(timeout=120) != out1.strip()
    assert client.job("nightly").result() == out2.strip()  # the latest run of the named job


def test_scenario_2_a_python_function_per_file(
    script_env: dict[str, str], tmp_path: Path, python_image: str
) -> None:
    folder = scripts(tmp_path / "scripts")
    tree = day_logs(1, uuid.uuid4().hex) | day_logs(2, "x")
    cid = connect(script_env).add(write_tree(tmp_path / "data", tree))
    out, err = run(script_env, folder, "per_file.py", cid)
    namespace: dict[str, object] = {}
    exec((folder / "stations.py").read_text(), namespace)
    mean = namespace["mean_temperature"]
    assert callable(mean)
    assert out == "".join(mean(io.BytesIO(tree[path])) for path in sorted(tree))
    assert [line.split()[:2] for line in err.splitlines()] == [[p, "ok"] for p in sorted(tree)]


def test_scenario_3_the_lisbon_filter_map_and_reduce(
    script_env: dict[str, str], tmp_path: Path
) -> None:
    folder = scripts(tmp_path / "scripts")
    tag = uuid.uuid4().hex
    tree = (
        day_logs(1, tag)
        | day_logs(2, tag)
        | {"other.log": day_logs(1, tag)["2024-06-01/station-1.log"]}
    )
    out, _ = run(script_env, folder, "lisbon.py", str(write_tree(tmp_path / "logs", tree)))
    lines = [line for path in sorted(tree) for line in tree[path].decode().splitlines()]
    temperatures = sorted(float(line.split(",")[3]) for line in lines if LISBON.search(line))
    counted = [line.split() for line in out.splitlines()]
    assert [(int(n), float(t)) for n, t in counted] == [
        (temperatures.count(t), t) for t in sorted(set(temperatures))
    ]
    assert sum(int(n) for n, _ in counted) == 5


def test_the_aio_example_counts_lines_from_trio(script_env: dict[str, str], tmp_path: Path) -> None:
    folder = scripts(tmp_path / "scripts")
    client = connect(script_env)
    tag = uuid.uuid4().hex
    three = client.add(write_tree(tmp_path / "a", {"x": f"1\n2 {tag}\n".encode(), "y": b"3\n"}))
    one = client.add(write_tree(tmp_path / "b", {"z": f"{tag}\n".encode()}))
    out, _ = run(script_env, folder, "count_lines.py", three, one)
    assert sorted(int(line.split()[1]) for line in out.splitlines()) == [1, 3]
