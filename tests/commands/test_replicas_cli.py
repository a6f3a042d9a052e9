"""`--replicas` on the command line without a cluster: usage errors before anything is recorded."""

from __future__ import annotations

import json
from pathlib import Path

from tests.commands.cli import add, assert_usage_error, codsh


def test_replicas_on_one_machine_and_out_of_range_are_refused(
    env: dict[str, str], tmp_path: Path
) -> None:
    env = {**env, "CODSH_HOME": str(tmp_path / "home")}  # an empty job history of its own
    source = add(env, tmp_path / "in", {"a.txt": b"a\n"})
    here = codsh("run", "-e", "cat", "-c", source, "--replicas", "2", env=env)
    assert_usage_error(here, "--replicas 2 needs 2 nodes; this machine is one", "cluster")
    piped = codsh("pipe", "-c", source, "cat", "--replicas", "3", env=env)
    assert_usage_error(piped, "--replicas 3 needs 3 nodes")
    for bad in ("0", "16", "two"):
        result = codsh("run", "-e", "cat", "-c", source, "--replicas", bad, env=env)
        assert result.code == 2 and "--replicas" in result.err, result.err
    sampled = codsh("run", "-e", "cat", "-c", source, "--verify", "sample:0.1", env=env)
    assert_usage_error(sampled, "--replicas 3 needs 3 nodes")  # --verify implies 3 replicas
    for bad, says in (
        ("0.1", "is not sample:P"),
        ("sample:0", "more than 0"),
        ("sample:x", "not a number"),
    ):
        result = codsh("run", "-e", "cat", "-c", source, "--verify", bad, env=env)
        assert result.code == 2 and "--verify" in result.err and says in result.err, result.err
    listed = codsh("job", "list", "--json", env=env)
    assert [json.loads(line) for line in listed.lines] == []  # nothing was recorded
