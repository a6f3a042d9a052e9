"""`codsh job list` / `describe` after real jobs (real kubo and Docker), each with its own data dir."""

from __future__ import annotations

import json
from pathlib import Path

from tests.commands.cli import add, assert_usage_error, codsh, write_tree


def test_jobs_are_recorded_listed_and_described(env: dict[str, str], tmp_path: Path) -> None:
    env = {**env, "CODSH_HOME": str(tmp_path / "home")}  # an empty job history of its own
    source = add(env, write_tree(tmp_path / "in", {"a.txt": b"rain\n", "b.txt": b"sun\n"}))
    ok = codsh("run", "-e", "cat", "-c", source, "--json", env=env)
    partial = codsh("run", "-e", "grep rain", "-c", source, "--json", env=env)
    assert (ok.code, partial.code) == (0, 1)
    ok_job, partial_job = json.loads(ok.out)["job"], json.loads(partial.out)["job"]

    listed = [json.loads(line) for line in codsh("job", "list", "--json", env=env).lines]
    assert [(r["id"], r["state"]) for r in listed] == [
        (partial_job, "partial"),
        (ok_job, "succeeded"),
    ]
    assert listed[1]["output"] == json.loads(ok.out)["output"]
    assert listed[0]["failed"] == 1 and listed[0]["command"] == "grep rain"

    table = codsh("job", "list", env=env).out.decode()
    assert ok_job in table and json.loads(ok.out)["output"] in table

    described = codsh("job", "describe", partial_job[:6], env=env)
    assert described.code == 0
    text = described.out.decode()
    assert "state:     partial" in text and json.loads(partial.out)["manifest"] in text

    assert_usage_error(codsh("job", "describe", "zzzz", env=env), "no job")
