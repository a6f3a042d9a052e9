"""`codsh add / ls / cat / get` end to end: the real CLI as a subprocess against a real kubo daemon.

CIDs are checked against the real `ipfs` CLI (only-hash, canonical settings), bytes are read back.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from codsh import kubo_daemon
from codsh.kubo_daemon import KuboProcess
from tests.commands.cli import (
    CID,
    CODSH,
    Tree,
    add,
    assert_usage_error,
    codsh,
    local_tree,
    write_tree,
)
from tests.conftest import ipfs_cli

CANONICAL = ("--cid-version=1", "--raw-leaves", "--chunker=size-262144")

ODD_TREE: Tree = {
    "dir with space/f 1.txt": b"spaces\n",
    "new\nline": b"newline\n",
    "ünï—código ✓/日本.txt": "unicode ✓\n".encode(),
    "tab\there": b"tab\n",
    "empty": b"",
    "empty dir": None,
    "deep/er/still/bin": bytes(range(256)) * 1100,  # two chunks
}


def ipfs_hash(kubo: KuboProcess, path: Path) -> str:
    """What the real ipfs CLI computes for `path` with codsh's canonical settings."""
    return ipfs_cli(kubo, "add", "-Q", "-n", "-r", *CANONICAL, str(path)).decode().strip()


# -- add --------------------------------------------------------------------------------------


def test_add_prints_one_cid_per_path(
    env: dict[str, str], tmp_path: Path, kubo: KuboProcess
) -> None:
    small = tmp_path / "small.txt"
    small.write_bytes(b"hello\n")
    tree = write_tree(tmp_path / "tree", ODD_TREE)
    big = tmp_path / "big.bin"
    big.write_bytes(random.Random(7).randbytes(600_000))
    result = codsh("add", str(small), str(tree), str(big), env=env)
    assert result.code == 0, result.err
    assert result.lines == [ipfs_hash(kubo, p) for p in (small, tree, big)]
    assert codsh("cat", result.lines[2], env=env).out == big.read_bytes()
    assert result.lines[1] in ipfs_cli(kubo, "pin", "ls", "--type=recursive").decode()


def test_add_wrap_prints_the_directory(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"A\n")
    write_tree(tmp_path / "d", {"b": b"B\n"})
    result = codsh("add", "--wrap", str(tmp_path / "a"), str(tmp_path / "d"), env=env)
    assert result.code == 0, result.err
    assert len(result.lines) == 1
    listing = codsh("ls", "-r", "--json", result.lines[0], env=env)
    assert {json.loads(line)["path"] for line in listing.lines} == {"a", "d", "d/b"}


def test_add_paths_with_the_same_name(env: dict[str, str], tmp_path: Path) -> None:
    x, y = (
        write_tree(tmp_path, {"x/data": b"one\n", "y/data": b"two\n"}) / "x/data",
        tmp_path / "y/data",
    )
    result = codsh("add", str(x), str(y), env=env)
    assert result.code in (0, 2), result.err
    if result.code == 0:  # either the right CID for each path, or a clear refusal
        assert [codsh("cat", cid, env=env).out for cid in result.lines] == [b"one\n", b"two\n"]
    wrapped = codsh("add", "--wrap", str(x), str(y), env=env)
    assert_usage_error(wrapped, "data")  # one directory cannot hold two entries named `data`


def test_add_missing_path(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "here").write_text("x")
    result = codsh("add", str(tmp_path / "here"), str(tmp_path / "nowhere"), env=env)
    assert_usage_error(result, "no such file or directory", "nowhere")


def test_add_refuses_a_name_that_is_not_utf8_before_adding(
    env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "latin1"
    folder.mkdir()
    (folder / "ok.txt").write_text("x")
    with open(os.fsencode(folder) + b"/caf\xe9.txt", "wb") as handle:  # Latin-1, not UTF-8
        handle.write(b"y")
    result = codsh("add", str(folder), env=env)
    assert_usage_error(result, "is not UTF-8", "convmv")  # was a traceback from the encoder


def test_add_of_20000_files_in_60_folders_does_not_hang(
    env: dict[str, str], tmp_path: Path, kubo: KuboProcess
) -> None:
    """Issue 16, finding 7, at a size a test affords: kubo's answer (~350 bytes a file with these
    long names, ~7 MB) outgrows the socket queues, where the old client hung with kubo for ever.
    The CID is the one the ipfs CLI computes (bench/add_many.py does 200,000 files)."""
    root = tmp_path / "many"
    for folder in range(60):
        (root / f"folder{folder:02d}").mkdir(parents=True)
    for i in range(20_000):
        (root / f"folder{i % 60:02d}" / f"{i:06d}{'n' * 240}").write_bytes(b"%d\n" % i)
    result = codsh("add", str(root), env=env, timeout=150)
    assert result.code == 0, result.err
    assert result.lines == [ipfs_hash(kubo, root)]


def test_add_shows_files_and_bytes_sent(env: dict[str, str], tmp_path: Path) -> None:
    """On a terminal (rich takes FORCE_COLOR as one), `codsh add` draws a bar on stderr: files
    and bytes sent of the totals; stdout still carries only the CID."""
    root = write_tree(tmp_path / "in", {f"f{i}.txt": b"%d\n" % i for i in range(50)})
    result = codsh("add", str(root), env={**env, "FORCE_COLOR": "1", "COLUMNS": "120"})
    assert result.code == 0, result.err
    assert len(result.lines) == 1 and re.fullmatch(CID, result.lines[0])
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.err)
    assert "50/50 files" in plain and "140 bytes/140 bytes" in plain, plain


@pytest.fixture
def stopped_kubo(tmp_path: Path) -> Iterator[KuboProcess]:
    """A daemon of the test's own, stopped with SIGSTOP: it accepts connections (the kernel
    does) and answers nothing. Resumed and shut down after the test."""
    process = kubo_daemon.start(tmp_path / "repo")
    os.kill(process.pid, signal.SIGSTOP)
    try:
        yield process
    finally:
        os.kill(process.pid, signal.SIGCONT)
        kubo_daemon.stop(process.repo)


def test_add_to_a_kubo_that_stopped_answering_names_it(
    env: dict[str, str], tmp_path: Path, stopped_kubo: KuboProcess
) -> None:
    """A kubo that takes no byte and sends none: after CODSH_KUBO_STALL seconds and an unanswered
    version request, exit 2 with an error that names the daemon and what to check; no CID."""
    root = write_tree(tmp_path / "in", {f"f{i}": b"%d\n" % i for i in range(100)})
    stalled = {**env, "CODSH_IPFS": stopped_kubo.api_url, "CODSH_KUBO_STALL": "1"}
    result = codsh("add", str(root), env=stalled, timeout=60)
    assert_usage_error(result, "stopped answering during add", stopped_kubo.api_url, "ipfs log")
    assert result.seconds < 20


def test_a_bad_stall_setting_is_a_usage_error(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    result = codsh("add", str(tmp_path / "f"), env={**env, "CODSH_KUBO_STALL": "soon"})
    assert_usage_error(result, "CODSH_KUBO_STALL", "soon")


# -- ls ---------------------------------------------------------------------------------------


def test_ls_one_level(env: dict[str, str], tmp_path: Path, kubo: KuboProcess) -> None:
    root = write_tree(tmp_path / "in", ODD_TREE)
    result = codsh("ls", add(env, root), env=env)
    assert result.code == 0, result.err
    rows = [re.fullmatch(rf"({CID})  +(\d+)  (.+)", line) for line in result.lines]
    assert all(rows), result.lines
    names = [row.group(3) for row in rows]  # type: ignore[union-attr]
    assert names == [
        "deep/",
        "dir with space/",
        "empty",
        "empty dir/",
        '"new\\nline"',  # not printable: shown JSON-quoted, on one line
        '"tab\\there"',
        "ünï—código ✓/",
    ]
    by_name = {row.group(3): row for row in rows}  # type: ignore[union-attr]
    assert by_name["empty"].group(1) == ipfs_hash(kubo, root / "empty")
    assert by_name['"new\\nline"'].group(2) == "8"
    assert by_name["deep/"].group(1) == ipfs_hash(kubo, root / "deep")


def test_ls_recursive_json(env: dict[str, str], tmp_path: Path, kubo: KuboProcess) -> None:
    root = write_tree(tmp_path / "in", ODD_TREE)
    result = codsh("ls", "-r", "--json", add(env, root), env=env)
    assert result.code == 0, result.err
    entries = [json.loads(line) for line in result.lines]
    assert all(e.keys() == {"path", "cid", "size", "dir"} for e in entries)
    tree = local_tree(root)
    assert sorted(e["path"] for e in entries) == sorted(tree)
    for entry in entries:
        assert entry["dir"] == (tree[entry["path"]] is None), entry
        assert entry["cid"] == ipfs_hash(kubo, root / entry["path"]), entry
        if not entry["dir"]:
            assert entry["size"] == len(tree[entry["path"]] or b"")
    order = [e["path"] for e in entries]
    for path in order:  # a directory is listed before what it holds
        if "/" in path:
            assert order.index(path.rsplit("/", 1)[0]) < order.index(path)


def test_ls_recursive_text_lists_every_path(env: dict[str, str], tmp_path: Path) -> None:
    root = write_tree(tmp_path / "in", {"a/x/1": b"1", "a/y": b"y", "b": b"b"})
    result = codsh("ls", "-r", add(env, root), env=env)
    assert result.code == 0, result.err
    names = sorted(line.split()[-1] for line in result.lines)
    assert names == ["a/", "a/x/", "a/x/1", "a/y", "b"]


def test_ls_subpath_and_file(env: dict[str, str], tmp_path: Path) -> None:
    cid = add(env, write_tree(tmp_path / "in", ODD_TREE))
    sub = codsh("ls", "--json", f"/ipfs/{cid}/deep/er", env=env)
    assert sub.code == 0, sub.err
    assert [json.loads(line)["path"] for line in sub.lines] == ["still"]
    one = codsh("ls", "--json", f"{cid}/deep/er/still/bin", env=env)
    assert one.code == 0, one.err
    [entry] = [json.loads(line) for line in one.lines]
    assert (entry["path"], entry["size"], entry["dir"]) == ("bin", 281_600, False)


# -- cat --------------------------------------------------------------------------------------


def test_cat_is_byte_exact(env: dict[str, str], tmp_path: Path) -> None:
    cid = add(env, write_tree(tmp_path / "in", ODD_TREE))
    result = codsh("cat", f"{cid}/deep/er/still/bin", env=env)
    assert result.code == 0, result.err
    assert result.out == ODD_TREE["deep/er/still/bin"]
    assert result.err == ""
    assert codsh("cat", f"{cid}/empty", env=env).out == b""


def test_cat_a_directory(env: dict[str, str], tmp_path: Path) -> None:
    cid = add(env, write_tree(tmp_path / "in", ODD_TREE))
    assert_usage_error(codsh("cat", cid, env=env), f"{cid} is a directory", "codsh ls")


@pytest.mark.parametrize("command", ["ls", "cat", "get"])
def test_missing_path(env: dict[str, str], tmp_path: Path, command: str) -> None:
    cid = add(env, write_tree(tmp_path / "in", {"a": b"a"}))
    result = codsh(command, f"{cid}/nosuch", env=env, cwd=tmp_path)
    assert result.code == 2, result.err
    assert result.out == b""
    assert 'no link named "nosuch"' in result.err


def test_missing_path_has_a_hint(env: dict[str, str], tmp_path: Path) -> None:
    cid = add(env, write_tree(tmp_path / "in", {"a": b"a"}))
    assert_usage_error(codsh("cat", f"{cid}/nosuch", env=env), "nosuch")


@pytest.mark.parametrize("command", ["ls", "cat", "get"])
def test_malformed_cid(env: dict[str, str], command: str, tmp_path: Path) -> None:
    result = codsh(command, "notacid/x", env=env, cwd=tmp_path)
    assert_usage_error(result, "'notacid' is not a valid CID")
    assert list(tmp_path.iterdir()) == []


def test_kubo_not_running(env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "f").write_text("x")
    result = codsh("--ipfs", f"/ip4/127.0.0.1/tcp/{port}", "add", str(tmp_path / "f"), env=env)
    assert_usage_error(result, "kubo does not answer", "codsh devstack up")


# -- get --------------------------------------------------------------------------------------


def test_get_tree_is_identical(env: dict[str, str], tmp_path: Path) -> None:
    root = write_tree(tmp_path / "in", ODD_TREE)
    result = codsh("get", add(env, root), "-o", str(tmp_path / "out"), env=env)
    assert result.code == 0, result.err
    assert result.out == b""
    assert f"6 files written to {tmp_path / 'out'}" in result.err
    assert local_tree(tmp_path / "out") == local_tree(root)


def test_get_subtree_and_file(env: dict[str, str], tmp_path: Path) -> None:
    cid = add(env, write_tree(tmp_path / "in", ODD_TREE))
    sub = codsh("get", f"{cid}/deep", "-o", str(tmp_path / "sub"), env=env)
    assert sub.code == 0, sub.err
    assert local_tree(tmp_path / "sub") == {
        "er": None,
        "er/still": None,
        "er/still/bin": ODD_TREE["deep/er/still/bin"],
    }
    one = codsh("get", f"{cid}/new\nline", "-o", str(tmp_path / "one"), env=env)
    assert one.code == 0, one.err
    assert (tmp_path / "one").read_bytes() == b"newline\n"


def test_get_default_target_and_empty_dir(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    cid = add(env, tmp_path / "empty")
    work = tmp_path / "work"
    work.mkdir()
    result = codsh("get", cid, env=env, cwd=work)
    assert result.code == 0, result.err
    assert f"0 files written to {cid}" in result.err
    assert (work / cid).is_dir() and list((work / cid).iterdir()) == []


def test_cat_into_a_pipe_that_closes_early_ends_quietly(
    env: dict[str, str], tmp_path: Path
) -> None:
    big = write_tree(tmp_path / "in", {"big": b"line\n" * 2_000_000})
    cid = add(env, big / "big")
    done = subprocess.run(
        f"{CODSH} cat {cid} | head -n 1; echo status=${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout == "line\nstatus=141\n"
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
