"""`codsh job run FILE` and `codsh job submit --dry-run`, end to end (real CLI, kubo, Docker).

A spec file is the same job as the flags it came from: the same output CID, and the memo of one
serves the other.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.commands.cli import add, assert_usage_error, cat, codsh

TREE = {"a.txt": b"rain 1\nsun 2\n", "b.txt": b"sun 3\n", "sub/c.txt": b"rain 4\n"}


def test_a_dry_run_file_runs_the_same_job(env: dict[str, str], tmp_path: Path) -> None:
    own = {name: data + tmp_path.name.encode() + b"\n" for name, data in TREE.items()}
    source = add(env, tmp_path / "in", own)
    flags = ("-e", "grep rain | cut -d' ' -f2", "-c", source, "--timeout", "60", "--concat")
    dry = codsh("job", "submit", *flags, "--dry-run", env=env)
    assert dry.code == 0, dry.err
    assert dry.out.decode().splitlines() == [
        "command: grep rain | cut -d' ' -f2",
        f"input: {source}",
        "concat: true",
        "timeout: 60.0",
    ]
    spec = tmp_path / "job.yaml"
    spec.write_bytes(dry.out)
    by_file = codsh("job", "run", str(spec), "--json", env=env)
    assert by_file.code == 0, by_file.err
    record = json.loads(by_file.out)
    assert cat(env, record["output"]) == b"1\n4\n"
    by_flags = codsh("run", *flags, env=env)
    assert by_flags.cid == record["output"]
    assert "3 reused" in by_flags.err  # the same memo key: nothing ran twice


def test_set_overrides_a_field(env: dict[str, str], tmp_path: Path) -> None:
    source = add(env, tmp_path / "in", TREE)
    spec = tmp_path / "job.yaml"
    spec.write_text(f"command: grep rain\ninput: {source}\n")
    shown = codsh("job", "run", str(spec), "--set", "command=grep sun", "--dry-run", env=env)
    assert shown.out.decode().splitlines()[0] == "command: grep sun"
    ran = codsh("job", "run", str(spec), "--set", "ok_exit=[0]", env=env)
    assert ran.code == 1, ran.err  # b.txt has no rain: with ok_exit [0] that fails


def test_bad_files_are_usage_errors_naming_the_line(env: dict[str, str], tmp_path: Path) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text("command: cat\ninput: bafy\nconcat: yes please\n")
    assert_usage_error(codsh("job", "run", str(spec), env=env), "job.yaml, line 3: concat")
    spec.write_text("command: cat\nfunction: missing.py\ninput: bafy\n")
    assert_usage_error(codsh("job", "run", str(spec), env=env), "give one of command, function")
    spec.write_text("function: missing.py\ninput: bafy\n")
    assert_usage_error(codsh("job", "run", str(spec), env=env), "missing.py", "no such file")
    spec.write_text("command: cat\ninput: notacid\n")
    assert_usage_error(codsh("job", "run", str(spec), env=env), "'notacid'", "CID")
