"""The README's examples run as written on the demo data (issue 14, the first five minutes): every
code block marked `<!-- runs on the demo data ... -->` is read from README.md and each of its
`codsh` lines runs in bash, against the session's kubo and the real Docker engine, with `logs/`
the demo data (scripts/weather_logs.py, fewer files) and `$LOGS` its CID. Each must exit 0, say no
error, and show something: non-empty output, and when it prints a CID, a non-empty tree behind it."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from codsh.kubo_daemon import KuboProcess
from tests.commands.cli import CID, CODSH

ROOT = Path(__file__).resolve().parents[1]
MARK = "<!-- runs on the demo data"


def examples(text: str) -> list[str]:
    """The command lines of the marked sh blocks (continuations joined, comment lines left out)."""
    lines: list[str] = []
    for block in re.findall(rf"^{re.escape(MARK)}.*?-->\n```sh\n(.*?)^```", text, re.M | re.S):
        joined = re.sub(r"\\\n\s*", "", block)
        lines += [line for line in joined.splitlines() if line.strip() and not line.startswith("#")]
    return lines


def demo_data(root: Path) -> None:
    spec = importlib.util.spec_from_file_location("weather_logs", ROOT / "scripts/weather_logs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.generate(root, years=2, days_per_year=2, hours_per_day=2, lines=120)


def test_the_marked_blocks_are_found() -> None:
    found = examples((ROOT / "README.md").read_text())
    assert len(found) >= 8, found
    assert all(line.startswith("codsh ") for line in found), found


@pytest.fixture(scope="module")
def demo(kubo: KuboProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    where = tmp_path_factory.mktemp("readme")
    demo_data(where / "logs")
    env = {
        **os.environ,
        "PATH": f"{Path(CODSH).parent}{os.pathsep}{os.environ['PATH']}",
        "CODSH_IPFS": kubo.api_url,
        "CODSH_HOME": str(where / "home"),
        "CWD": str(where),
    }
    for key in ("CODSH_API", "CODSH_SCHEDULER"):
        env.pop(key, None)
    added = subprocess.run([CODSH, "add", "logs"], cwd=where, env=env, capture_output=True)
    assert added.returncode == 0, added.stderr
    return env | {"LOGS": added.stdout.decode().strip()}


@pytest.mark.parametrize("line", examples((ROOT / "README.md").read_text()))
def test_a_readme_example_shows_a_result_on_the_demo_data(line: str, demo: dict[str, str]) -> None:
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", line],
        cwd=demo["CWD"],
        env=demo,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "error:" not in done.stderr and "failed" not in done.stderr.replace(", 0 failed", "")
    assert done.stdout.strip(), f"no output; stderr: {done.stderr}"
    if re.fullmatch(CID, done.stdout.strip()):  # a job's output: something must be behind it
        listed = subprocess.run(
            [CODSH, "ls", "-r", "--json", done.stdout.strip()], env=demo, capture_output=True
        )
        assert listed.returncode == 0, listed.stderr
        sizes = [json.loads(entry)["size"] for entry in listed.stdout.splitlines()]
        assert sum(sizes) > 0, f"every file of {done.stdout.strip()} is empty"
