"""Datasets through the orchestrator (POST /v1/datasets, POST /v1/datasets/CID/parts, and
`codsh dataset new|add` with only CODSH_API): the CID a local `codsh dataset` gives over the same
parts, bad input refused with the local messages, and a job over the dataset run through the API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.api.conftest import Orchestrator
from tests.api.test_cli_api import user_env
from tests.commands.cli import Tree, assert_usage_error, codsh, write_tree

LOGS_2016: Tree = {"jan.log": b"rain 1\ndry 2\n", "sub/deep.log": b"rain 4\n"}
LOGS_2017: Tree = {"mar.log": b"sun\nrain\n", "apr.log": b"sun\n"}


@pytest.fixture(scope="module")
def parts(orchestrator: Orchestrator, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Two folders and a file, added to the orchestrator's kubo."""
    tmp = tmp_path_factory.mktemp("dataset-parts")
    (tmp / "extra.log").write_bytes(b"one\ntwo rain\n")
    added = {}
    for name, path in [
        ("2016", write_tree(tmp / "logs2016", LOGS_2016)),
        ("2017", write_tree(tmp / "logs2017", LOGS_2017)),
        ("extra.log", tmp / "extra.log"),
    ]:
        added[name] = codsh("add", str(path), env=orchestrator.env).cid
    return added


def local(orchestrator: Orchestrator, *args: str) -> str:
    made = codsh("dataset", *args, env=orchestrator.env)
    assert made.code == 0, made.err
    return made.cid


def test_the_api_makes_the_dataset_a_local_codsh_dataset_makes(
    orchestrator: Orchestrator, parts: dict[str, str], tmp_path: Path
) -> None:
    args = [f"{name}={cid}" for name, cid in parts.items()] + [f"deep={parts['2016']}/sub"]
    expected = local(orchestrator, "new", *args)
    body = {"parts": dict(arg.split("=", 1) for arg in args)}
    status, made = orchestrator.call("POST", "/v1/datasets", body=body)
    assert status == 201, made
    assert made == {"cid": expected, "parts": 4, "directories": 3}

    env = user_env(orchestrator, tmp_path)
    through = codsh("dataset", "new", *args, env=env)
    assert through.code == 0, through.err
    assert through.cid == expected
    assert "4 parts linked (3 directories, 1 files)" in through.err
    listing = tmp_path / "parts.txt"
    listing.write_text("# the parts\n" + "\n".join(a.replace("=", " ", 1) for a in args) + "\n")
    from_file = codsh("dataset", "new", "--from-file", str(listing), env=env)
    assert (from_file.code, from_file.cid) == (0, expected), from_file.err
    from_stdin = codsh("dataset", "new", "--from-file", "-", env=env, input=listing.read_text())
    assert (from_stdin.code, from_stdin.cid) == (0, expected), from_stdin.err


def test_add_through_the_api_is_the_local_add(
    orchestrator: Orchestrator, parts: dict[str, str], tmp_path: Path
) -> None:
    env = user_env(orchestrator, tmp_path)
    first = local(orchestrator, "new", f"2016={parts['2016']}")
    expected = local(orchestrator, "add", first, f"2017={parts['2017']}")
    added = codsh("dataset", "add", first, f"2017={parts['2017']}", env=env)
    assert (added.code, added.cid) == (0, expected), added.err
    replaced = local(orchestrator, "add", expected, f"2016={parts['extra.log']}", "--replace")
    clash = codsh("dataset", "add", expected, f"2016={parts['extra.log']}", env=env)
    assert_usage_error(clash, "the dataset already has '2016'", "--replace")
    again = codsh("dataset", "add", expected, f"2016={parts['extra.log']}", "--replace", env=env)
    assert (again.code, again.cid) == (0, replaced), again.err
    path = f"/v1/datasets/{expected}/parts"
    status, made = orchestrator.call("POST", path, body={"parts": {"2016": parts["2017"]}})
    assert status == 400 and made["error"] == "the dataset already has '2016'", made


@pytest.mark.parametrize(
    "name, source",
    [
        ("a/b", "P16"),
        ("..", "P16"),
        ("", "P16"),
        ("x", "notacid"),
        ("x", "P16/nope"),
    ],
)
def test_bad_parts_are_400_with_the_local_messages(
    orchestrator: Orchestrator, parts: dict[str, str], name: str, source: str
) -> None:
    source = source.replace("P16", parts["2016"])
    status, answer = orchestrator.call("POST", "/v1/datasets", body={"parts": {name: source}})
    assert status == 400, answer
    here = codsh("dataset", "new", f"{name}={source}", env=orchestrator.env)
    assert_usage_error(here)
    assert f"error: {answer['error']}\n" in here.err
    assert f"hint: {answer['hint']}" in here.err


def test_bad_requests_are_400(orchestrator: Orchestrator, parts: dict[str, str]) -> None:
    cid = parts["2016"]
    for path, body, words in [
        ("/v1/datasets", {"parts": {}}, "no parts given"),
        ("/v1/datasets", {"parts": {"a": cid}, "replace": True}, "unknown field 'replace'"),
        ("/v1/datasets", {"parts": [cid]}, "parts must map names to CIDs"),
        ("/v1/datasets", {"parts": {"a": cid}, "find_timeout": 0}, "find_timeout must be"),
        (f"/v1/datasets/{parts['extra.log']}/parts", {"parts": {"a": cid}}, "not a dataset"),
        ("/v1/datasets/notacid/parts", {"parts": {"a": cid}}, "'notacid' is not a valid CID"),
    ]:
        status, answer = orchestrator.call("POST", path, body=body)
        assert status == 400 and words in answer["error"], (path, body, answer)
    status, answer = orchestrator.call("POST", "/v1/datasets", user=None, body={"parts": {}})
    assert status == 401
    paths = orchestrator.call("GET", "/openapi.json")[1]["paths"]
    assert {"/v1/datasets", "/v1/datasets/{path}/parts", "/v1/jobs/{job_id}/resume"} <= set(paths)


def test_a_user_with_only_the_api_runs_a_job_over_the_dataset(
    orchestrator: Orchestrator, parts: dict[str, str], tmp_path: Path
) -> None:
    env = user_env(orchestrator, tmp_path)
    made = codsh("dataset", "new", *(f"{n}={c}" for n, c in parts.items()), env=env)
    assert made.code == 0, made.err
    ran = codsh("run", "-e", "grep rain", "--ok-exit", "0", "-c", made.cid, env=env)
    assert ran.code == 1, ran.err  # --ok-exit 0: grep's 1 on the files without rain fails
    assert re.search(r"5 files, 4 ok, 1 failed", ran.err), ran.err
    assert codsh("cat", f"{ran.cid}/2017/mar.log", env=env).out == b"rain\n"
    assert codsh("cat", f"{ran.cid}/extra.log", env=env).out == b"two rain\n"
    here = codsh("run", "-e", "grep rain", "-c", made.cid, env=orchestrator.env)
    assert here.cid == ran.cid
