"""`codsh job submit` / `codsh run` end to end: the real CLI as a subprocess, real kubo, real Docker.

Each test runs `.venv/bin/codsh` as a user would and checks the exit code, that stdout is exactly the
output CID (empty on exit 2), what stderr says, and reads the outputs back (nothing lost).
"""

from __future__ import annotations

import json
import socket
import subprocess
import uuid
from pathlib import Path

import docker
import pytest

from codsh.kubo_daemon import KuboProcess
from tests.commands.cli import Tree, add, assert_usage_error, cat, codsh, fetch, write_tree
from tests.conftest import ipfs_cli

EMPTY_FILE_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
EMPTY_DIR_CID = "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
LISBON = "sed -n '/38.7[2-4]....,-9.1[3-5]..../p'"


def local_run(command: str, path: Path) -> bytes:
    with path.open("rb") as stdin:
        return subprocess.run(["sh", "-c", command], stdin=stdin, capture_output=True).stdout


def assert_kept(kubo: KuboProcess, cid: str) -> None:
    """The output is pinned and every block of it is in the local repo."""
    assert cid in ipfs_cli(kubo, "pin", "ls", "--type=recursive", cid).decode()
    ipfs_cli(kubo, "--offline", "dag", "stat", "--progress=false", cid)


@pytest.fixture
def small(env: dict[str, str], tmp_path: Path) -> str:
    return add(env, tmp_path / "small", {"a.txt": b"rain a\n", "b.txt": b"dry b\n"})


# -- exit 2: nothing runs ---------------------------------------------------------------------


def test_malformed_cid(env: dict[str, str]) -> None:
    result = codsh("job", "submit", "-e", "cat", "-c", "notacid", env=env)
    assert_usage_error(result, "'notacid' is not a valid CID")


def test_cid_nobody_has_gives_up_after_find_timeout(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "unique").write_text(f"nobody has this {uuid.uuid4()}\n")
    result = codsh("add", "--only-hash", str(tmp_path / "unique"), env=env)
    unknown = result.cid
    result = codsh("run", "-e", "cat", "-c", unknown, "--find-timeout", "2", env=env)
    assert_usage_error(result, unknown, "could not find", "2s")
    assert result.seconds < 15


def test_unbalanced_quotes(env: dict[str, str], small: str) -> None:
    result = codsh("run", "-e", "sed 's/a/b/", "-c", small, env=env)
    assert_usage_error(result, "cannot parse the command", "No closing quotation")


@pytest.mark.parametrize("command", ["", "   ", "# only a comment"])
def test_empty_command(env: dict[str, str], small: str, command: str) -> None:
    assert_usage_error(codsh("run", "-e", command, "-c", small, env=env), "the command is empty")


def test_missing_image(env: dict[str, str], small: str) -> None:
    result = codsh("run", "-e", "cat", "--image", "nosuch:latest", "-c", small, env=env)
    assert_usage_error(result, "'nosuch:latest' is not in the local Docker engine")


def test_kubo_not_running(env: dict[str, str], small: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = codsh("--ipfs", f"/ip4/127.0.0.1/tcp/{port}", "run", "-e", "cat", "-c", small, env=env)
    assert_usage_error(result, f"kubo does not answer at http://127.0.0.1:{port}")
    assert "codsh devstack up" in result.err.split("hint:", 1)[1]


def test_docker_not_running(env: dict[str, str], small: str, tmp_path: Path) -> None:
    no_docker = {**env, "DOCKER_HOST": f"unix://{tmp_path}/nonexistent.sock"}
    result = codsh("run", "-e", "cat", "-c", small, env=no_docker)
    assert_usage_error(result, "Docker does not answer", "DOCKER_HOST")


def test_cid_on_stdin(env: dict[str, str], small: str, tmp_path: Path) -> None:
    result = codsh("run", "-e", "tr a-z A-Z", env=env, input=f"{small}\n")
    assert result.code == 0, result.err
    assert fetch(env, result.cid, tmp_path / "out") == {"a.txt": b"RAIN A\n", "b.txt": b"DRY B\n"}


def test_two_words_on_stdin(env: dict[str, str], small: str) -> None:
    result = codsh("run", "-e", "cat", env=env, input=f"{small} {small}\n")
    assert_usage_error(result, "expected one CID on stdin, got 2 words")


# -- inputs of every shape --------------------------------------------------------------------


def test_file_cid_gives_one_file(env: dict[str, str], tmp_path: Path, kubo: KuboProcess) -> None:
    source = tmp_path / "data.txt"
    source.write_text("one\ntwo\nthree\nfour\n")
    command = "sed -n '2,3p' | tr a-z A-Z"
    result = codsh("run", "-e", command, "-c", add(env, source), env=env)
    assert result.code == 0, result.err
    assert cat(env, result.cid) == local_run(command, source) == b"TWO\nTHREE\n"
    assert ipfs_cli(kubo, "cat", result.cid) == b"TWO\nTHREE\n"
    listing = codsh("ls", "--json", result.cid, env=env).out.decode().splitlines()
    assert [json.loads(line)["dir"] for line in listing] == [False]


def test_empty_directory(env: dict[str, str], tmp_path: Path, kubo: KuboProcess) -> None:
    (tmp_path / "empty").mkdir()
    result = codsh("run", "-e", "cat", "-c", add(env, tmp_path / "empty"), env=env)
    assert result.code == 0, result.err
    assert result.cid == EMPTY_DIR_CID
    assert ipfs_cli(kubo, "ls", result.cid) == b""
    assert_kept(kubo, result.cid)


def test_odd_names_mirrored_exactly(env: dict[str, str], tmp_path: Path, kubo: KuboProcess) -> None:
    tree: Tree = {
        "dir with space": None,
        "dir with space/f 1.txt": b"spaces\n",
        "new\nline": b"newline\n",
        "ünï—código ✓/日本.txt": b"unicode\n",
        "tab\there": b"tab\n",
        "empty dir": None,
    }
    result = codsh("run", "-e", "tr a-z A-Z", "-c", add(env, tmp_path / "in", tree), env=env)
    assert result.code == 0, result.err
    expected = {k: None if v is None else v.upper() for k, v in tree.items()}
    expected["ünï—código ✓"] = None
    assert fetch(env, result.cid, tmp_path / "out") == expected
    assert_kept(kubo, result.cid)


def test_binary_bytes_exact(env: dict[str, str], tmp_path: Path) -> None:
    tree: Tree = {"all": bytes(range(256)) * 1100, "sub/reversed": bytes(reversed(range(256)))}
    source = add(env, tmp_path / "in", tree)
    result = codsh("run", "-e", "cat", "-c", source, env=env)
    assert result.code == 0, result.err
    assert cat(env, f"{result.cid}/all") == tree["all"]  # 281,600 bytes: two chunks
    assert cat(env, f"{result.cid}/sub/reversed") == tree["sub/reversed"]
    assert result.cid == source  # same bytes, same canonical settings: same CID


def test_empty_inputs_give_kept_empty_outputs(env: dict[str, str], tmp_path: Path) -> None:
    tree: Tree = {"e0": b"", "sub/e1": b"", "full": b"x\n"}
    result = codsh("run", "-e", "sed 's/^/> /'", "-c", add(env, tmp_path / "in", tree), env=env)
    assert result.code == 0, result.err
    listing = codsh("ls", "-r", "--json", result.cid, env=env).out.decode().splitlines()
    entries = {e["path"]: e for e in map(json.loads, listing)}
    assert sorted(entries) == ["e0", "full", "sub", "sub/e1"]
    assert entries["e0"]["cid"] == entries["sub/e1"]["cid"] == EMPTY_FILE_CID
    assert fetch(env, result.cid, tmp_path / "out") == {
        "e0": b"",
        "sub": None,
        "sub/e1": b"",
        "full": b"> x\n",
    }


@pytest.mark.parametrize("many", [False, True], ids=["tricky-order", "200-files"])
def test_concat_in_input_path_order(env: dict[str, str], tmp_path: Path, many: bool) -> None:
    names = ["a/b", "a.txt", "a/c/d", "B", "Z", "a b", "ü", "a-", "a/b0"]
    if many:
        names = [f"d{i % 7}/f{i:03}" for i in range(200)]
    root = write_tree(tmp_path / "in", {n: f"line of {n}\nsecond\n".encode() for n in names})
    command = "head -n 1 | tr a-z A-Z"
    result = codsh("run", "-e", command, "--concat", "-c", add(env, root), env=env)
    assert result.code == 0, result.err
    order = sorted(names, key=lambda n: [part.encode() for part in n.split("/")])
    assert cat(env, result.cid) == b"".join(local_run(command, root / n) for n in order)


# -- exit 1: the job ran, some files failed ------------------------------------------------------


def test_command_not_in_image(env: dict[str, str], small: str, tmp_path: Path) -> None:
    result = codsh("run", "-e", "nosuchcmd", "-c", small, env=env)
    assert result.code == 1, result.err
    assert "nosuchcmd: not found" in result.err
    assert fetch(env, result.cid, tmp_path / "out") == {"a.txt": b"", "b.txt": b""}


def test_some_files_fail(env: dict[str, str], tmp_path: Path, kubo: KuboProcess) -> None:
    tree: Tree = {
        "a.txt": b"rain today\nsun\n",
        "b.txt": b"sun only\n",
        "sub/c.txt": b"more rain\n",
    }
    source = add(env, tmp_path / "in", tree)
    result = codsh("run", "-e", "grep rain", "--ok-exit", "0", "-c", source, env=env)
    assert result.code == 1, result.err  # --ok-exit 0: grep's "no match" is a failure again
    assert "failed 'b.txt': exited with code 1" in result.err
    assert "a.txt" not in result.err and "sub/c.txt" not in result.err
    assert fetch(env, result.cid, tmp_path / "out") == {
        "a.txt": b"rain today\n",
        "b.txt": b"",
        "sub": None,
        "sub/c.txt": b"more rain\n",
    }
    as_json = codsh("run", "-e", "grep rain", "--ok-exit", "0", "-c", source, "--json", env=env)
    assert as_json.code == 1
    record = json.loads(as_json.out)
    assert record["output"] == result.cid
    job = json.loads(cat(env, record["manifest"]))
    assert {f["path"]: f["exit_code"] for f in job["files"]} == {
        "a.txt": 0,
        "b.txt": 1,
        "sub/c.txt": 0,
    }
    assert [f["path"] for f in job["files"] if f["error"]] == ["b.txt"]
    assert job["output"] == result.cid
    assert_kept(kubo, result.cid)


@pytest.mark.slow
def test_endless_loop_times_out_alone(env: dict[str, str], tmp_path: Path) -> None:
    tree: Tree = {"a_loop": b"loop\n", "b": b"bee\nb2\n", "c": b"sea\n", "d": b"dee\n"}
    command = 'read -r l; if [ "$l" = loop ]; then while :; do :; done; else echo "$l"; cat; fi'
    source = add(env, tmp_path / "in", tree)
    result = codsh("run", "-e", command, "--timeout", "2", "--slots", "1", "-c", source, env=env)
    assert result.code == 1, result.err
    assert result.seconds < 30
    assert "failed 'a_loop': timed out after 2s" in result.err
    assert fetch(env, result.cid, tmp_path / "out") == {**tree, "a_loop": b""}


def test_output_limit_keeps_exactly_the_first_part(env: dict[str, str], tmp_path: Path) -> None:
    source = add(env, tmp_path / "in", {"big": b"x\n"})
    result = codsh("run", "-e", "yes", "--output-limit", "1m", "-c", source, env=env)
    assert result.code == 1, result.err
    assert "output larger than the limit (1048576 bytes)" in result.err
    assert cat(env, f"{result.cid}/big") == b"y\n" * (1024 * 1024 // 2)


def test_no_network(env: dict[str, str], small: str) -> None:
    result = codsh("run", "-e", "wget -q -O- http://codsh-test.invalid/", "-c", small, env=env)
    assert result.code == 1, result.err
    assert "failed 'a.txt'" in result.err and "failed 'b.txt'" in result.err
    devices = codsh("run", "-e", "cat /proc/net/dev", "--concat", "-c", small, env=env)
    assert devices.code == 0, devices.err
    lines = cat(env, devices.cid).decode().splitlines()
    interfaces = {line.split(":")[0].strip() for line in lines if ":" in line}
    assert interfaces == {"lo"}, lines


@pytest.mark.slow
def test_fork_bomb_is_contained(env: dict[str, str], small: str) -> None:
    # `sleep` after the bomb makes the file fail for sure: it cannot fork, or it outlives --timeout.
    marker = f"bomb-{uuid.uuid4()}"
    command = f"f(){{ f|f & }}; f; sleep 60 # {marker}"
    result = codsh(
        "run", "-e", command, "--timeout", "5", "--pids", "32", "--slots", "1", "-c", small, env=env
    )
    assert result.code == 1, result.err
    assert result.seconds < 60
    assert result.cid  # still printed
    engine = docker.from_env()
    left = engine.containers.list(all=True, filters={"label": "org.codsh.role=shard"})
    assert not [c for c in left if marker in " ".join(c.attrs["Args"])]
    after = codsh("run", "-e", "echo fine", "--concat", "-c", small, env=env)
    assert after.code == 0, after.err
    assert cat(env, after.cid) == b"fine\nfine\n"


def test_memory_eater_fails_alone(env: dict[str, str], tmp_path: Path) -> None:
    tree: Tree = {"a": b"keep\n", "b_eat": b"eat\n", "c": b"keep\n"}
    command = (
        "if grep -q eat; then awk 'BEGIN { s = \"x\"; while (1) s = s s }'; else echo fine; fi"
    )
    source = add(env, tmp_path / "in", tree)
    result = codsh(
        "run", "-e", command, "--memory", "64m", "--slots", "1", "-c", source, "--json", env=env
    )
    assert result.code == 1
    record = json.loads(result.out)
    assert (record["files"], record["failed"]) == (3, 1)
    assert [f["path"] for f in record["failures"]] == ["b_eat"]
    assert fetch(env, record["output"], tmp_path / "out") == {
        "a": b"fine\n",
        "b_eat": b"",
        "c": b"fine\n",
    }


def test_read_only_root_and_nobody(env: dict[str, str], small: str) -> None:
    command = "id -u; touch /x 2>&1; echo touch=$?"
    result = codsh("run", "-e", command, "-c", small, env=env)
    assert result.code == 0, result.err
    expected = b"65534\ntouch: /x: Read-only file system\ntouch=1\n"
    assert cat(env, f"{result.cid}/a.txt") == cat(env, f"{result.cid}/b.txt") == expected


def test_tmp_is_writable(env: dict[str, str], small: str) -> None:
    result = codsh("run", "-e", "echo scratch > /tmp/y && cat /tmp/y", "-c", small, env=env)
    assert result.code == 0, result.err
    assert cat(env, f"{result.cid}/a.txt") == b"scratch\n"


# -- the result -------------------------------------------------------------------------------


def test_json_result(env: dict[str, str], small: str, kubo: KuboProcess) -> None:
    result = codsh("run", "-e", "wc -l", "-c", small, "--json", env=env)
    assert result.code == 0, result.err
    lines = result.out.decode().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert {"output", "manifest", "files", "failed"} <= record.keys()
    assert (record["files"], record["failed"]) == (2, 0)
    assert cat(env, f"{record['output']}/a.txt").strip() == b"1"
    job = json.loads(cat(env, record["manifest"]))
    assert job["output"] == record["output"]
    assert job["spec"]["command"] == "wc -l" and job["spec"]["input"] == small
    assert_kept(kubo, record["output"])


def test_design_example_and_run_alias(env: dict[str, str], tmp_path: Path) -> None:
    header = b"datetime,lat,lon,temp,baro,rain\n"
    lisbon = [
        b"2016-01-01T00:00:00Z,38.736946,-9.142685,12.31,1012.4,0.00\n",
        b"2016-01-01T00:20:00Z,38.725310,-9.150036,12.80,1011.7,1.20\n",
    ]
    porto = b"2016-01-01T00:10:00Z,41.157944,-8.629105,10.02,1009.9,0.35\n"
    sintra = b"2016-01-01T00:30:00Z,38.802700,-9.381740,11.50,1010.0,0.00\n"
    tree: Tree = {
        "2016/01/2016-01-01T00.log": header + lisbon[0] + porto + lisbon[1] + sintra,
        "2016/01/2016-01-01T01.log": header + porto + sintra,
    }
    source = add(env, tmp_path / "in", tree)
    result = codsh("job", "submit", "-e", LISBON, "-c", source, env=env)
    assert result.code == 0, result.err
    out = fetch(env, result.cid, tmp_path / "out")
    assert out["2016/01/2016-01-01T00.log"] == b"".join(lisbon)
    assert out["2016/01/2016-01-01T01.log"] == b""
    for name, data in out.items():
        if data is not None:
            assert data == local_run(LISBON, tmp_path / "in" / name)
    alias = codsh("run", "-e", LISBON, "-c", source, env=env)
    assert alias.code == 0, alias.err
    assert alias.cid == result.cid
