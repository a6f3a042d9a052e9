"""Jobs chain like shell pipes: each command reads the CID the one before it printed.

`codsh add DIR | codsh run -e ... | codsh run -e ... --concat | codsh cat` in a real bash (and zsh),
against the real kubo and Docker, compared with the same pipeline run locally with the system tools.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from codsh.core.model import path_order
from tests.commands.cli import CODSH, Tree, assert_usage_error, codsh, local_tree, write_tree

EMPTY_DIR_CID = "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"

# Hourly readings: time, city, latitude, temperature. Every file has Lisbon lines (so `grep Lisbon`
# succeeds everywhere), temperatures repeat (uniq -c counts) and need a numeric sort (8 < 12 < 21).
WEATHER: Tree = {
    "2026/11/01.csv": b"2026-11-01T00:00,Lisbon,38.7,12\n"
    b"2026-11-01T01:00,Porto,41.1,9\n"
    b"2026-11-01T02:00,Lisbon,38.7,14\n"
    b"2026-11-01T03:00,Faro,37.0,18\n",
    "2026/11/02.csv": b"2026-11-02T00:00,Lisbon,38.7,9\n"
    b"2026-11-02T01:00,Lisbon,38.7,12\n"
    b"2026-11-02T02:00,Porto,41.1,10\n",
    "2026/11/03.csv": b"2026-11-03T00:00,Lisbon,38.7,21\n"
    b"2026-11-03T01:00,Lisbon,38.7,12\n"
    b"2026-11-03T02:00,Faro,37.0,19\n"
    b"2026-11-03T03:00,Lisbon,38.7,9\n",
    "2026/12/01.csv": b"2026-12-01T00:00,Lisbon,38.7,8\n2026-12-01T01:00,Porto,41.1,7\n",
    "2026/12/a note.csv": b"2026-12-01T05:00,Lisbon,38.7,14\n",
}
STAGES = ("grep Lisbon", "cut -d, -f4", "sort -n | uniq -c")  # the last one after --concat


def weather_files(root: Path) -> list[Path]:
    """The files under `root` in input path order (the order --concat concatenates in)."""
    files = [p for p in root.rglob("*") if p.is_file()]
    return sorted(files, key=lambda p: path_order(p.relative_to(root).as_posix()))


def local_pipeline(root: Path) -> bytes:
    """The chain run locally with the system tools: per-file grep and cut, concatenated in path
    order, then one sort | uniq -c; checked against the same computed in Python."""
    files = " ".join(shlex.quote(str(p)) for p in weather_files(root))
    script = f'for f in {files}; do grep Lisbon < "$f" | cut -d, -f4; done | sort -n | uniq -c'
    local = subprocess.run(
        ["sh", "-c", script],
        capture_output=True,
        check=True,
        env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
    ).stdout
    temps = [
        int(line.split(",")[3])
        for path in weather_files(root)
        for line in path.read_text().splitlines()
        if "Lisbon" in line
    ]
    counted = "".join(f"{temps.count(t):7} {t}\n" for t in sorted(set(temps)))
    assert local == counted.encode()
    return local


@pytest.fixture(scope="module")
def weather(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tree(tmp_path_factory.mktemp("weather") / "weather", WEATHER)


@pytest.fixture
def home(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """`env` with an empty job store of this test's own."""
    return {**env, "CODSH_HOME": str(tmp_path / "home")}


def shell(name: str, script: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """`script` in a real `name -c`, with pipefail so any failing command shows in the status."""
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed")
    return subprocess.run(
        [name, "-c", f"set -o pipefail\n{script}"], env=env, capture_output=True, timeout=300
    )


C = shlex.quote(CODSH)


@pytest.mark.parametrize("name", ["bash", "zsh"])
def test_chain_in_a_real_shell(home: dict[str, str], weather: Path, name: str) -> None:
    grep, cut, count = (shlex.quote(stage) for stage in STAGES)
    script = (
        f"{C} add {shlex.quote(str(weather))}"
        f" | {C} run -e {grep}"
        f" | {C} run -e {cut} --concat"
        f" | {C} run -e {count}"
        f" | {C} cat"
    )
    proc = shell(name, script, home)
    assert proc.returncode == 0, proc.stderr.decode()
    expected = local_pipeline(weather)
    assert expected.count(b"\n") == 5  # 8, 9, 12, 14, 21: a real count, not an empty one
    assert proc.stdout == expected

    # three jobs, each reading what the one before it made
    jobs = [json.loads(line) for line in codsh("job", "list", "--json", env=home).lines][::-1]
    assert [job["command"] for job in jobs] == list(STAGES)
    assert [job["mode"] for job in jobs] == ["per-file", "concat", "per-file"]
    assert [job["state"] for job in jobs] == ["succeeded"] * 3
    added = codsh("add", str(weather), env=home).cid
    assert [job["input"] for job in jobs] == [added, jobs[0]["output"], jobs[1]["output"]]


def test_pipe_in_a_chain(home: dict[str, str], weather: Path) -> None:
    stages = " ".join(shlex.quote(word) for word in (STAGES[0], STAGES[1], "--concat", STAGES[2]))
    script = f"{C} add {shlex.quote(str(weather))} | {C} pipe {stages} | {C} cat"
    proc = shell("bash", script, home)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == local_pipeline(weather)


def test_ls_and_get_read_a_piped_cid(home: dict[str, str], weather: Path, tmp_path: Path) -> None:
    listed = shell("bash", f"{C} add {shlex.quote(str(weather))} | {C} ls -r --json", home)
    assert listed.returncode == 0, listed.stderr.decode()
    entries = [json.loads(line) for line in listed.stdout.decode().splitlines()]
    assert {e["path"] for e in entries if not e["dir"]} == set(WEATHER)
    assert {e["path"] for e in entries if e["dir"]} == {"2026", "2026/11", "2026/12"}

    out = tmp_path / "got"
    script = f"{C} add {shlex.quote(str(weather))} | {C} get -o {shlex.quote(str(out))}"
    got = shell("bash", script, home)
    assert got.returncode == 0, got.stderr.decode()
    assert local_tree(out) == local_tree(weather)


@pytest.mark.parametrize(
    ("command", "stdin", "words"),
    [
        pytest.param(
            ("run", "-e", "cat"), "hello\n", ["'hello' is not a valid CID"], id="run-not-a-cid"
        ),
        pytest.param(
            ("run", "-e", "cat"),
            f"{EMPTY_DIR_CID} {EMPTY_DIR_CID}\n",
            ["expected one CID on stdin, got 2 words"],
            id="run-two-words",
        ),
        pytest.param(
            ("run", "-e", "cat"), "", ["expected one CID on stdin, got 0 words"], id="run-empty"
        ),
        pytest.param(("ls",), "", ["expected one CID on stdin, got 0 words"], id="ls-empty"),
        pytest.param(
            ("cat",), "not-a-cid\n", ["'not-a-cid' is not a valid CID"], id="cat-not-a-cid"
        ),
        pytest.param(
            ("get", "-o", "OUT"),
            "a b\n",
            ["expected one CID on stdin, got 2 words"],
            id="get-two-words",
        ),
    ],
)
def test_bad_stdin_is_a_usage_error(
    home: dict[str, str], tmp_path: Path, command: tuple[str, ...], stdin: str, words: list[str]
) -> None:
    out = tmp_path / "out"
    args = [str(out) if arg == "OUT" else arg for arg in command]
    result = codsh(*args, env=home, input=stdin)
    assert_usage_error(result, *words)
    assert not out.exists()
    assert codsh("job", "list", "--json", env=home).out == b""  # no job was even recorded


def test_a_failure_upstream_stops_the_chain(home: dict[str, str]) -> None:
    proc = shell("bash", f"echo hello | {C} run -e cat | {C} run -e 'wc -l' | {C} cat", home)
    assert proc.returncode == 2
    assert proc.stdout == b""
    err = proc.stderr.decode()
    assert "error: 'hello' is not a valid CID" in err
    assert err.count("error: expected one CID on stdin, got 0 words") == 2
