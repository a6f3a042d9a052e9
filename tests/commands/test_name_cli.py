"""Stable names (issue 14): `--name` publishes a job's complete output under an IPNS key of the
driver's kubo, `codsh name ls` lists them, `-c NAME` / `-c /ipns/KEY` read them, and scenario 1
(a nightly job over a growing dataset, read from another node) end to end on two real kubo
daemons in a private swarm."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codsh import kubo_daemon
from codsh.devstack import _connect
from codsh.ipfs.client import KuboClient
from codsh.kubo_daemon import KuboProcess
from tests.commands.cli import add, assert_usage_error, cat, codsh, write_tree
from tests.conftest import run

CRON = "grep -h rain | cut -d, -f1"  # the nightly command, the same every night


def names(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    result = codsh("name", "ls", "--json", env=env)
    assert result.code == 0, result.err
    return {entry["name"]: entry for entry in map(json.loads, result.lines)}


@pytest.fixture
def home(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """A data dir of the test's own: names and jobs of other tests stay out of it."""
    return {**env, "CODSH_HOME": str(tmp_path / "home")}


def test_a_named_job_publishes_and_names_read_anywhere_a_cid_is(
    home: dict[str, str], tmp_path: Path
) -> None:
    cid = add(home, tmp_path / "d", {"a.txt": b"1,rain\n", "b.txt": b"2,sun\n"})
    first = codsh("run", "-e", "grep rain", "-c", cid, "--name", "daily", env=home)
    assert first.code == 0, first.err
    assert f"name daily -> {first.cid} (/ipns/k51" in first.err
    entry = names(home)["daily"]
    assert entry["cid"] == first.cid and entry["key"].startswith("k51")
    table = codsh("name", "ls", env=home)
    assert "daily" in table.out.decode() and f"/ipns/{entry['key']}" in table.out.decode()
    # NAME and /ipns/KEY as input of ls, cat and a job, with a path below them
    assert cat(home, "daily/a.txt") == b"1,rain\n"
    assert cat(home, f"/ipns/{entry['key']}/a.txt") == b"1,rain\n"
    assert codsh("name", "resolve", "daily", env=home).cid == first.cid
    counted = codsh("run", "-e", "wc -l", "-c", "daily", "--concat", "--json", env=home)
    assert counted.code == 0, counted.err
    assert json.loads(counted.out)["spec"]["input"] == first.cid  # the job records the CID


def test_a_run_with_failures_does_not_move_the_name(home: dict[str, str], tmp_path: Path) -> None:
    cid = add(home, tmp_path / "d", {"a.txt": b"x\n", "b.txt": b"y\n"})
    good = codsh("run", "-e", "cat", "-c", cid, "--name", "kept", env=home)
    assert good.code == 0, good.err
    bad = codsh("run", "-e", "grep -q x && cat || exit 3", "-c", cid, "--name", "kept", env=home)
    assert bad.code == 1, bad.err
    assert "name kept not moved: this run ended partial" in bad.err
    assert names(home)["kept"]["cid"] == good.cid


def test_bad_and_unknown_names_are_input_errors(home: dict[str, str], tmp_path: Path) -> None:
    cid = add(home, tmp_path / "d", {"a.txt": b"x\n"})
    assert_usage_error(
        codsh("run", "-e", "cat", "-c", cid, "--name", "my job", env=home), "cannot be a job name"
    )
    assert_usage_error(codsh("ls", "nosuch", env=home), "is not a valid CID, nor a name", "name ls")
    assert_usage_error(codsh("run", "-e", "cat", "-c", "nosuch", env=home), "nosuch")


# -- scenario 1: a nightly job over a dataset that grows, read from another node -----------------


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[KuboProcess]]:
    """Two kubo daemons in a private swarm of their own (DHT routing), connected."""
    root = tmp_path_factory.mktemp("swarm")
    key = kubo_daemon.new_swarm_key()
    nodes = [kubo_daemon.start(root / name, swarm_key=key) for name in ("a", "b")]
    try:

        async def join() -> None:
            async with KuboClient(nodes[1].api_url) as b:
                peer = (await b.id())["ID"]
                address = next(a for a in (await b.id())["Addresses"] if "127.0.0.1" in a)
            async with KuboClient(nodes[0].api_url) as a:
                await _connect(a, address if "/p2p/" in address else f"{address}/p2p/{peer}")

        run(join, deadline=60)
        yield nodes
    finally:
        for node in nodes:
            kubo_daemon.stop(node.repo)


def day(root: Path, n: int) -> dict[str, bytes]:
    """The dataset on day `n`: one file per day so far, each with a line that says rain."""
    return {
        f"{d:02}.csv": f"2024-01-{d:02},rain,{d}\n2024-01-{d:02},sun,0\n".encode()
        for d in range(1, n + 1)
    }


def test_scenario_1_nightly_job_moves_its_name_and_another_node_reads_it(
    swarm: list[KuboProcess], tmp_path: Path
) -> None:
    driver = {**os.environ, "CODSH_IPFS": swarm[0].api_url, "CODSH_HOME": str(tmp_path / "a")}
    reader = {**os.environ, "CODSH_IPFS": swarm[1].api_url, "CODSH_HOME": str(tmp_path / "b")}
    key = None
    for n in (1, 2, 3):  # the dataset grows twice; cron runs the same line every night
        data = write_tree(tmp_path / "data", day(tmp_path, n))
        today = add(driver, data)
        night = codsh("run", "-e", CRON, "-c", today, "--name", "nightly", "--json", env=driver)
        assert night.code == 0, night.err
        result = json.loads(night.out)
        assert result["files"] == n and result["reused"] == n - 1  # only the new file ran
        key = key or names(driver)["nightly"]["key"]
        assert names(driver)["nightly"]["key"] == key  # one key, made once
        assert names(driver)["nightly"]["cid"] == result["output"]
        # the other node resolves the name (through the DHT of the swarm) to tonight's output
        resolved = codsh("name", "resolve", f"/ipns/{key}", env=reader)
        assert resolved.cid == result["output"], resolved.err
        got = codsh("run", "-e", "cat", "-c", f"/ipns/{key}", "--concat", env=reader)
        assert got.code == 0, got.err
        days = cat(reader, got.cid).decode().split()
        assert days == [f"2024-01-{d:02}" for d in range(1, n + 1)]
