"""Which exit statuses succeed, end to end: grep's "no match" is not a failure; --ok-exit (issue 14).

The real CLI, real kubo and Docker: `codsh run -e "grep Lisbon"` over files where most lines do not
match exits 0 and says how many files had no match; a genuine error still fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.commands.cli import add, assert_usage_error, cat, codsh, fetch

TREE = {"a.txt": b"Lisbon,12\nPorto,3\n", "b.txt": b"Porto,1\n", "c.txt": b""}


@pytest.fixture
def cities(env: dict[str, str], tmp_path: Path) -> str:
    return add(env, tmp_path / "cities", TREE)


def outcomes(env: dict[str, str], manifest: str) -> dict[str, tuple[str, int]]:
    files = json.loads(cat(env, manifest))["files"]
    return {f["path"]: (f["outcome"], f["exit_code"]) for f in files}


@pytest.mark.parametrize(
    ("command", "a_out"),
    [
        ("grep Lisbon", b"Lisbon,12\n"),
        ("cut -d, -f1 | grep Lisbon", b"Lisbon\n"),
        ("LC_ALL=C grep -c Lisbon", b"1\n"),
    ],
)
def test_grep_that_selects_nothing_is_no_match(
    env: dict[str, str], cities: str, tmp_path: Path, command: str, a_out: bytes
) -> None:
    result = codsh("run", "-e", command, "-c", cities, "--json", env=env)
    assert result.code == 0, result.err
    record = json.loads(result.out)
    assert record["failures"] == []
    found = outcomes(env, record["manifest"])
    assert found["a.txt"] == ("ok", 0)
    assert found["b.txt"] == ("no match", 1) and found["c.txt"] == ("no match", 1)
    outputs = fetch(env, record["output"], tmp_path / "out")
    counted = b"0\n" if "-c" in command else b""  # grep -c prints 0 and still exits 1
    assert outputs == {"a.txt": a_out, "b.txt": counted, "c.txt": counted}
    summary = json.loads(cat(env, record["manifest"]))["summary"]
    assert summary["ok"] == 3 and summary["no_match"] == 2 and summary["failed"] == 0


def test_the_summary_counts_no_match_files(env: dict[str, str], cities: str) -> None:
    result = codsh("run", "-e", "grep Lisbon", "-c", cities, env=env)
    assert result.code == 0, result.err
    assert "3 files, 3 ok (2 no match), 0 failed" in result.err


def test_grep_then_another_command_fails_on_status_1(env: dict[str, str], cities: str) -> None:
    result = codsh("run", "-e", "grep Lisbon | cut -d, -f2; exit 1", "-c", cities, env=env)
    assert result.code == 1, result.err
    assert "3 failed" in result.err


def test_a_genuine_grep_error_fails(env: dict[str, str], cities: str) -> None:
    result = codsh("run", "-e", "grep x - /nonexistent", "-c", cities, "--json", env=env)
    assert result.code == 1, result.err
    found = outcomes(env, json.loads(result.out)["manifest"])
    assert {outcome for outcome, _ in found.values()} == {"exited"}
    assert {code for _, code in found.values()} == {2}


def test_ok_exit_states_the_accepted_statuses(env: dict[str, str], cities: str) -> None:
    strict = codsh("run", "-e", "grep Lisbon", "--ok-exit", "0", "-c", cities, env=env)
    assert strict.code == 1 and "2 failed" in strict.err, strict.err
    diff_like = codsh("run", "-e", "cat; exit 1", "--ok-exit", "0,1", "-c", cities, env=env)
    assert diff_like.code == 0, diff_like.err
    bad = codsh("run", "-e", "cat", "--ok-exit", "zero", "-c", cities, env=env)
    assert_usage_error(bad, "--ok-exit", "'zero' is not an exit status")


def test_the_memo_keeps_no_match_and_tells_the_rules_apart(
    env: dict[str, str], tmp_path: Path
) -> None:
    own = {name: data + f"{tmp_path.name}\n".encode() for name, data in TREE.items()}
    cities = add(env, tmp_path / "own", own)  # bytes no other test ran on: nothing remembered
    first = codsh("run", "-e", "grep Lisbon", "-c", cities, "--json", env=env)
    again = codsh("run", "-e", "grep Lisbon", "-c", cities, "--json", env=env)
    assert again.code == 0 and json.loads(again.out)["output"] == json.loads(first.out)["output"]
    assert "3 reused" in codsh("run", "-e", "grep Lisbon", "-c", cities, env=env).err
    strict = codsh("run", "-e", "grep Lisbon", "--ok-exit", "0", "-c", cities, env=env)
    assert strict.code == 1 and "reused" not in strict.err  # another rule: another memo key
