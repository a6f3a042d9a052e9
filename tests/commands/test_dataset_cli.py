"""`codsh dataset new|add` end to end: the real CLI as a subprocess, real kubo, real Docker.

A dataset must be the very directory kubo makes over the same parts, read back like any directory,
and run as one job whose results are the parts' own results; bad input is exit 2 with nothing on
stdout. The last test puts the parts on different nodes of a devstack.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from pathlib import Path

import pytest

from codsh import devstack
from codsh.cluster.execution import ClusterExecution
from codsh.core.spec import CONCAT, JobSpec
from codsh.ipfs.client import KuboClient
from codsh.jobs.finish import JobResult
from codsh.jobs.run import run_job
from codsh.kubo_daemon import KuboProcess
from tests.commands.cli import Tree, add, assert_usage_error, cat, codsh, write_tree
from tests.conftest import ipfs_cli, run

LOGS_2016: Tree = {
    "jan.log": b"rain 1\ndry 2\n",
    "feb.log": b"dry 3\n",
    "empty": None,
    "sub/deep.log": b"rain 4\nrain 5\nrain 6\n",
}
LOGS_2017: Tree = {
    "mar.log": b"sun\n",
    "big.log": b"".join(b"%06d\n" % random.Random(3).randrange(10**6) for _ in range(60_000)),
}
EXTRA = b"one\ntwo\n"


@pytest.fixture(scope="module")
def parts(
    kubo: KuboProcess, codsh_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Two directories (one with a multi-block file and an empty folder) and a file, added once."""
    env = {**os.environ, "CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(codsh_home)}
    tmp_path = tmp_path_factory.mktemp("parts")
    (tmp_path / "extra.log").write_bytes(EXTRA)
    return {
        "2016": add(env, tmp_path / "logs2016", LOGS_2016),
        "2017": add(env, tmp_path / "logs2017", LOGS_2017),
        "extra.log": add(env, tmp_path / "extra.log"),
    }


def new(env: dict[str, str], *args: str, input: str | None = None) -> str:
    result = codsh("dataset", "new", *args, env=env, input=input)
    assert result.code == 0, result.err
    return result.cid


def entries(parts: dict[str, str]) -> list[str]:
    return [f"{name}={cid}" for name, cid in parts.items()]


def listing(env: dict[str, str], cid: str) -> list[dict[str, object]]:
    result = codsh("ls", "-r", "--json", cid, env=env)
    assert result.code == 0, result.err
    return [json.loads(line) for line in result.lines]


# -- the dataset is the directory kubo makes ---------------------------------------------------


def test_new_is_the_directory_kubo_builds_from_the_same_parts(
    env: dict[str, str], parts: dict[str, str], kubo: KuboProcess
) -> None:
    v0 = ipfs_cli(kubo, "add", "-Q", "--cid-version=0", stdin=b"an old CIDv0 file\n").decode()
    named = {**parts, "old": v0.strip()}
    result = codsh("dataset", "new", *entries(named), env=env)
    assert result.code == 0, result.err
    assert "4 parts linked (2 directories, 2 files)" in result.err
    # kubo's MFS: a CIDv1 directory, each part linked with `files cp` (nothing fetched either)
    mfs = f"/codsh-tests/{uuid.uuid4().hex}"
    ipfs_cli(kubo, "files", "mkdir", "-p", "--cid-version=1", mfs)
    for name, cid in named.items():
        ipfs_cli(kubo, "files", "cp", f"/ipfs/{cid}", f"{mfs}/{name}")
    assert result.cid == ipfs_cli(kubo, "files", "stat", "--hash", mfs).decode().strip()
    # only the dataset's own node is pinned, directly
    assert result.cid in ipfs_cli(kubo, "pin", "ls", "--type=direct", result.cid).decode()
    recursive = ipfs_cli(kubo, "pin", "ls", "--type=recursive").decode()
    assert result.cid not in recursive


def test_new_equals_adding_a_folder_that_holds_the_parts(
    env: dict[str, str], parts: dict[str, str], tmp_path: Path
) -> None:
    folder = write_tree(tmp_path / "folder", {f"2016/{k}": v for k, v in LOGS_2016.items()})
    write_tree(folder, {f"2017/{k}": v for k, v in LOGS_2017.items()})
    (folder / "extra.log").write_bytes(EXTRA)
    assert new(env, *entries(parts)) == add(env, folder)


def test_a_part_may_be_a_path_inside_a_cid(env: dict[str, str], parts: dict[str, str]) -> None:
    cid = new(env, f"jan={parts['2016']}/jan.log", f"deep=/ipfs/{parts['2016']}/sub/")
    top = {e["path"]: e["cid"] for e in listing(env, cid)}
    inner = {e["path"]: e["cid"] for e in listing(env, parts["2016"])}
    assert top == {
        "deep": inner["sub"],
        "deep/deep.log": inner["sub/deep.log"],
        "jan": inner["jan.log"],
    }


def test_ls_recursive_lists_every_part_under_its_name(
    env: dict[str, str], parts: dict[str, str]
) -> None:
    cid = new(env, *entries(parts))
    expected: list[dict[str, object]] = []
    for name in ("2016", "2017"):
        expected.append({"path": name, "cid": parts[name], "dir": True})
        for entry in listing(env, parts[name]):
            expected.append({**entry, "path": f"{name}/{entry['path']}"})
    expected.append({"path": "extra.log", "cid": parts["extra.log"], "size": 8, "dir": False})
    got = listing(env, cid)
    assert [e["path"] for e in got] == sorted(
        (str(e["path"]) for e in expected), key=lambda p: p.split("/")
    )
    by_path = {e["path"]: e for e in got}
    for entry in expected:
        assert entry.items() <= by_path[entry["path"]].items()
    assert cat(env, f"{cid}/2017/big.log") == LOGS_2017["big.log"]


def test_from_file_and_stdin_give_the_same_dataset(
    env: dict[str, str], parts: dict[str, str], tmp_path: Path
) -> None:
    expected = new(env, *entries(parts))
    listed = tmp_path / "parts.txt"
    listed.write_text(f"# the logs\n2016={parts['2016']}\n\n  2017   {parts['2017']}\n# the end\n")
    assert new(env, "--from-file", str(listed), f"extra.log={parts['extra.log']}") == expected
    lines = "\n".join(f"{name} {cid}" for name, cid in parts.items())
    assert new(env, "--from-file", "-", input=lines) == expected


def test_add_round_trip(env: dict[str, str], parts: dict[str, str]) -> None:
    first = new(env, f"2016={parts['2016']}")
    grown = codsh("dataset", "add", first, *entries(parts)[1:], env=env)
    assert grown.code == 0, grown.err
    assert grown.cid == new(env, *entries(parts))
    assert [e["path"] for e in listing(env, first) if "/" not in str(e["path"])] == ["2016"]

    clash = codsh("dataset", "add", grown.cid, f"2016={parts['2017']}", env=env)
    assert_usage_error(clash, "already has '2016'", "--replace")
    replaced = codsh("dataset", "add", grown.cid, f"2016={parts['2017']}", "--replace", env=env)
    assert replaced.code == 0, replaced.err
    assert replaced.cid == new(env, f"2016={parts['2017']}", *entries(parts)[1:])


# -- one job over the dataset: the parts' own results ------------------------------------------


def test_a_job_over_the_dataset_gives_the_jobs_over_its_parts(
    env: dict[str, str], parts: dict[str, str], image_id: str
) -> None:
    cid = new(env, *entries(parts))

    def job(source: str, *mode: str) -> str:
        result = codsh("run", "-e", "wc -l", *mode, "-c", source, env=env)
        assert result.code == 0, result.err
        return result.cid

    per_file = {e["path"]: e["cid"] for e in listing(env, job(cid)) if "/" not in str(e["path"])}
    assert per_file == {name: job(part) for name, part in parts.items()}
    concat = cat(env, job(cid, "--concat"))
    assert concat == b"".join(cat(env, job(parts[name], "--concat")) for name in sorted(parts))
    assert concat.split() == [b"1", b"2", b"3", b"60000", b"1", b"2"]  # input path order


# -- bad input: exit 2, nothing on stdout ------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["a=notacid"], ["'notacid' is not a valid CID"]),
        (["a/b=P16"], ["the name 'a/b' contains '/'"]),
        (["..=P16"], ["'..' is not a file name"]),
        (["P16"], ["expected NAME=CID"]),
        (["a=P16", "b=P17", "a=P17"], ["names given more than once", "'a' at"]),
        (["--from-file", "/nonexistent/parts.txt"], ["no such file: /nonexistent/parts.txt"]),
        ([], ["no parts given"]),
        (["x=P16/nope"], ["part 'x'", "does not exist"]),
    ],
)
def test_bad_input(
    env: dict[str, str], parts: dict[str, str], args: list[str], words: list[str]
) -> None:
    args = [a.replace("P16", parts["2016"]).replace("P17", parts["2017"]) for a in args]
    assert_usage_error(codsh("dataset", "new", *args, env=env), *words)


def test_a_cid_nobody_has_gives_up_after_find_timeout(
    env: dict[str, str], parts: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "unique").write_text(f"nobody has this {uuid.uuid4()}\n")
    unknown = codsh("add", "--only-hash", str(tmp_path / "unique"), env=env).cid
    args = ("dataset", "new", f"a={parts['2016']}", f"lost={unknown}", "--find-timeout", "2")
    result = codsh(*args, env=env)
    assert_usage_error(result, "part 'lost'", f"could not find {unknown} within 2s")
    assert result.seconds < 15
    result = codsh("dataset", "add", unknown, f"a={parts['2016']}", "--find-timeout", "2", env=env)
    assert_usage_error(result, f"could not find {unknown} within 2s")


def test_add_to_what_is_not_a_dataset(env: dict[str, str], parts: dict[str, str]) -> None:
    result = codsh("dataset", "add", parts["extra.log"], f"a={parts['2016']}", env=env)
    assert_usage_error(result, "is a file, not a dataset", "codsh dataset new")
    result = codsh("dataset", "add", "notacid", f"a={parts['2016']}", env=env)
    assert_usage_error(result, "'notacid' is not a valid CID")


# -- parts on different nodes ------------------------------------------------------------------


@pytest.mark.slow
def test_parts_held_by_different_nodes_run_where_they_are(
    stack: list[devstack.NodeStatus], tmp_path: Path, image_id: str
) -> None:
    apis = [str(node.api_url) for node in stack]
    trees: dict[str, Tree] = {
        "north": {f"n{i}.log": f"north {i} {uuid.uuid4()}\n".encode() * (i + 1) for i in range(3)},
        "south": {f"s{i}.log": f"south {i} {uuid.uuid4()}\n".encode() * (i + 2) for i in range(3)},
    }

    async def add_on(api: str, folder: Path) -> tuple[str, list[str]]:
        async with KuboClient(api) as ipfs:
            results = await ipfs.add_paths([folder])
        return results[-1].cid, [r.cid for r in results[:-1]]

    north, north_files = run(add_on, apis[0], write_tree(tmp_path / "north", trees["north"]))
    south, south_files = run(add_on, apis[1], write_tree(tmp_path / "south", trees["south"]))
    env = {**os.environ, "CODSH_IPFS": apis[2]}
    result = codsh("dataset", "new", f"north={north}", f"south={south}", env=env)
    assert result.code == 0, result.err

    async def held_on_builder() -> list[bool]:
        async with KuboClient(apis[2]) as ipfs:
            return [await ipfs.has_block(cid) for cid in [*north_files, *south_files]]

    assert run(held_on_builder) == [False] * 6  # building the dataset fetched no file

    info = devstack.scheduler_info()
    assert info is not None
    spec = JobSpec("wc -l", result.cid, image_digest=image_id, mode=CONCAT)

    async def job() -> JobResult:
        async with KuboClient(apis[2]) as ipfs:
            execution = ClusterExecution(info["address"], devstack.tls_dir())
            return await run_job(spec, ipfs, execution)

    done = run(job, deadline=300)
    assert done.ok and len(done.files) == 6
    assert done.placement is not None
    assert done.placement.locality == 1.0 and done.placement.bytes_moved == 0
    assert done.placement.shards_per_node == {"node0": 1, "node1": 1}
