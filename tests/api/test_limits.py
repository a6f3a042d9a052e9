"""Limits per token against a real `codsh serve`, kubo and Docker: files per job (counted while the
input is listed at submit: a 429 naming the limit and the count, nothing recorded or run) and jobs
at once, each settable per token with the orchestrator's defaults otherwise."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from codsh.api import limits
from codsh.api.limits import TooManyFiles, list_within
from codsh.api.tokens import TokenStore, User
from codsh.commands import serve
from codsh.core.folders import KeptFolder
from codsh.inputs import InputTree
from codsh.ipfs.client import KuboClient
from codsh.kubo_daemon import KuboProcess
from tests.api.conftest import Orchestrator, codsh
from tests.commands.cli import add, assert_usage_error
from tests.commands.cli import codsh as run_cli
from tests.conftest import run


def files(count: int) -> dict[str, bytes]:
    return {f"d{i % 2}/f{i}.txt": f"{i}\n".encode() for i in range(count)}


def test_a_job_past_the_tokens_files_per_job_gets_429_and_nothing_is_recorded(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    orchestrator.tokens["dave"] = codsh(
        orchestrator.env, "serve", "token", "add", "dave", "--max-files", "3"
    )
    five = add(orchestrator.env, tmp_path / "five", files(5))
    three = add(orchestrator.env, tmp_path / "three", files(3))
    spec = {"command": "cat", "input": five}
    status, body = orchestrator.call("POST", "/v1/jobs", user="dave", body=spec)
    assert status == 429, body
    assert "has 5 files" in body["error"] and "3 files per job" in body["error"]
    assert "--max-files" in body["hint"]
    pipe = {"input": five, "stages": ["cat", "--concat"]}
    assert orchestrator.call("POST", "/v1/pipes", user="dave", body=pipe)[0] == 429
    assert orchestrator.call("GET", "/v1/jobs", user="dave") == (200, [])  # nothing recorded

    env = orchestrator.env | {
        "CODSH_API": orchestrator.url,
        "CODSH_TOKEN": orchestrator.tokens["dave"],
    }
    refused = run_cli("run", "-e", "cat", "-c", five, env=env)
    assert_usage_error(refused, "has 5 files", "3 files per job", "--max-files")
    assert refused.out == b""
    allowed = run_cli("run", "-e", "cat", "-c", three, env=env)
    assert allowed.code == 0, allowed.err

    codsh(orchestrator.env, "serve", "token", "limits", "dave", "--max-files", "0")  # default
    status, job = orchestrator.call("POST", "/v1/jobs", user="dave", body=spec)
    assert status == 201, job
    assert orchestrator.wait(job["id"], user="dave")["state"] == "succeeded"
    assert "default files per job" in codsh(orchestrator.env, "serve", "token", "list")


def test_a_tokens_own_jobs_at_once(orchestrator: Orchestrator, tmp_path: Path) -> None:
    orchestrator.tokens["erin"] = codsh(
        orchestrator.env, "serve", "token", "add", "erin", "--max-running", "1"
    )
    source = add(orchestrator.env, tmp_path / "in", {"a.txt": b"a\n"})
    spec = {"command": "sleep 30", "input": source, "target": {"memo": False}}
    status, job = orchestrator.call("POST", "/v1/jobs", user="erin", body=spec)
    assert status == 201, job
    try:
        status, body = orchestrator.call("POST", "/v1/jobs", user="erin", body=spec)
        assert (
            status == 429 and "1 jobs running" in body["error"] and "(1 at once)" in body["error"]
        )
        assert (
            orchestrator.call("POST", "/v1/pipes", user="erin", body=spec | {"stages": ["cat"]})[0]
            == 429
        )
        assert len(orchestrator.call("GET", "/v1/jobs", user="erin")[1]) == 1
    finally:
        orchestrator.call("POST", f"/v1/jobs/{job['id']}/cancel", user="erin")
    assert orchestrator.wait(job["id"], user="erin", timeout=30)["state"] == "cancelled"
    status, again = orchestrator.call(
        "POST", "/v1/jobs", user="erin", body=spec | {"command": "cat"}
    )
    assert status == 201, again  # its slot is free once it ended


def test_the_count_is_exact_up_to_ten_times_the_limit(kubo: KuboProcess, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CODSH_API", "CODSH_TOKEN")}
    env |= {"CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(tmp_path / "home")}
    cid = add(env, tmp_path / "in", files(25))

    async def listed(default: int, user: User | None = None) -> int:
        async with KuboClient(kubo.api_url) as ipfs:
            tree = await list_within(ipfs, cid, 10, user or User("zoe"), default)
        return len(tree.files)

    assert run(listed, 25) == 25 and run(listed, 1000) == 25
    with pytest.raises(TooManyFiles, match="has 25 files, more than the 3 files"):
        run(listed, 3)
    with pytest.raises(TooManyFiles, match="has more than 20 files, more than the 2 files"):
        run(listed, 2)  # it stops listing there
    assert run(listed, 2, User("zoe", max_files=30)) == 25  # the token's own limit wins


def test_token_limits_are_stored_and_an_old_tokens_file_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "tokens.sqlite"
    old = sqlite3.connect(path)  # the table before limits existed
    old.execute(
        "CREATE TABLE tokens (name TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, "
        "admin INTEGER NOT NULL, created REAL NOT NULL)"
    )
    old.commit()
    old.close()
    store = TokenStore(path)
    token = store.add("alice", max_files=10)
    assert store.who(token) == User("alice", max_files=10)
    assert store.set_limits("alice", max_running=2) == User("alice", False, 2, 10)
    assert store.set_limits("alice", max_files=0) == User("alice", False, 2, None)
    assert store.who(token) == User("alice", False, 2, None)
    with pytest.raises(Exception, match="no token for user"):
        store.set_limits("nobody", max_files=1)
    store.close()


def test_the_clis_default_is_the_apis() -> None:
    assert serve.DEFAULT_MAX_FILES == limits.DEFAULT_MAX_FILES


def test_a_folder_the_memo_keeps_is_not_listed_and_its_files_still_count(
    kubo: KuboProcess, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CODSH_API", "CODSH_TOKEN")}
    env |= {"CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(tmp_path / "home")}
    cid = add(env, tmp_path / "in", files(25))  # d0/ 13 files, d1/ 12
    asked: list[dict[str, str]] = []

    async def keeps_d1(folders: dict[str, str]) -> dict[str, KeptFolder]:
        asked.append(folders)
        return {
            p: KeptFolder(p, c, "bafyout", 1, 1, 12, 0, 30, ())
            for p, c in folders.items()
            if p == "d1"
        }

    async def listed(default: int) -> InputTree:
        async with KuboClient(kubo.api_url) as ipfs:
            return await list_within(ipfs, cid, 10, User("zoe"), default, keeps_d1)

    tree = run(listed, 25)
    assert [list(a) for a in asked] == [["d0", "d1"]]  # asked once, of the root's folders
    assert {f.path.split("/")[0] for f in tree.files} == {"d0"}
    assert [k.path for k in tree.pruned] == ["d1"] and "d1" in tree.directories
    assert (tree.file_count, tree.byte_count) == (25, sum(f.size for f in tree.files) + 30)
    with pytest.raises(TooManyFiles, match="has 25 files, more than the 24 files"):
        run(listed, 24)
