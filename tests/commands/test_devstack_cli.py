"""`codsh devstack` and `codsh images` end to end: a devstack of its own, the real image build."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import docker

from codsh.cluster.tls import cluster_id
from codsh.executor.container import CLUSTER_LABEL
from codsh.processes import pid_alive
from tests.commands.cli import add, cat, codsh, write_tree


def test_devstack_up_env_status_down(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CODSH_IPFS"}
    env["CODSH_HOME"] = str(tmp_path / "home")
    env["IPFS_PATH"] = str(tmp_path / "no-user-kubo")  # never fall back to the user's ~/.ipfs

    assert "no devstack" in codsh("devstack", "status", env=env).out.decode()
    down_first = codsh("devstack", "env", env=env)
    assert down_first.code != 0 and "codsh devstack up" in down_first.err

    try:
        up = codsh("devstack", "up", "--nodes", "1", env=env)
        assert up.code == 0, up.err
        again = codsh("devstack", "up", env=env)  # idempotent: the running node is kept
        assert again.code == 0 and again.err.split("pid")[1] == up.err.split("pid")[1]

        exports = codsh("devstack", "env", env=env).out.decode()
        match = re.fullmatch(  # the orchestrator and a token: no Dask certificate for users
            r"export CODSH_IPFS=(http://127\.0\.0\.1:\d+)\n"
            r"export CODSH_API=(https://127\.0\.0\.1:\d+)\n"
            r"export CODSH_TOKEN=(codsh_\S+)\n"
            r"export CODSH_CA=(\S+/tls/orchestrator/ca\.pem)\n",
            exports,
        )
        assert match, exports
        exported = dict(re.findall(r"export (\w+)=(\S+)", exports))  # eval $(codsh devstack env)
        listed = codsh("node", "list", env={**env, **exported})
        assert listed.code == 0 and "node0" in listed.out.decode(), listed.err
        untrusted = codsh("node", "list", env={**env, **exported, "CODSH_CA": ""})
        assert (
            untrusted.code == 2 and "not trusted" in untrusted.err and "CODSH_CA" in untrusted.err
        )
        status = codsh("devstack", "status", env=env).out.decode()
        assert "node0: running, API " + match.group(1) in status
        scheduler = re.search(
            r"scheduler: (tls://127\.0\.0\.1:\d+), dashboard http://127\.0\.0\.1:", status
        )
        assert scheduler, status
        assert f"orchestrator: API {match.group(2)}, jobs on {scheduler.group(1)}" in status

        # with no --ipfs, commands use the running devstack node
        cid = add(env, write_tree(tmp_path / "in", {"a.txt": b"hello\n"}))
        assert cat(env, f"{cid}/a.txt") == b"hello\n"
    finally:
        down = codsh("devstack", "down", env=env)
    assert down.code == 0 and "stopped 1 node" in down.err
    after_status = codsh("devstack", "status", env=env).out.decode()
    assert "node0: stopped" in after_status and "scheduler: stopped" in after_status
    assert "orchestrator: stopped" in after_status
    after = codsh("cat", cid, env=env)
    assert after.code == 2 and "codsh devstack up" in after.err  # nothing answers: says what to do


def test_images_build_is_idempotent_and_ls_shows_the_digest(tmp_path: Path) -> None:
    env = {**os.environ, "CODSH_HOME": str(tmp_path)}
    build = codsh("images", "build", env=env)
    assert build.code == 0, build.err
    assert re.search(r"codsh/busybox:latest: (built|up to date) \(sha256:[0-9a-f]{64}\)", build.err)
    assert "up to date" in codsh("images", "build", env=env).err
    listing = codsh("images", "ls", env=env).out.decode()
    digest = r"sha256:[0-9a-f]{64}"
    assert re.fullmatch(
        rf"codsh/busybox:latest  {digest}\ncodsh/python:latest  {digest}\n", listing
    ), listing


def test_devstack_add_of_a_folder_too_big_for_one_block_is_accepted(tmp_path: Path) -> None:
    """Issue 16, finding 9 made `devstack add` refuse at once a folder past one 1 MiB block
    (rather than after adding every file); since issue 13 such folders are HAMT-sharded as kubo
    shards them, so 4,300 names of 200 characters (~246 bytes a link) pass the layout check and
    only the missing devstack is reported."""
    from codsh.spread import _local_dirs, _local_files, check_layout

    folder = tmp_path / "wide"
    folder.mkdir()
    for index in range(4300):
        (folder / (f"{index:05d}" + "x" * 195)).touch()
    check_layout(folder, _local_files(folder), _local_dirs(folder))
    env = {**os.environ, "CODSH_HOME": str(tmp_path / "home")}
    refused = codsh("devstack", "add", "--spread", "1", str(folder), env=env)
    assert refused.code == 2, refused.err
    assert "devstack is not running" in refused.err and "entries" not in refused.err
    assert "Traceback" not in refused.err


def test_devstack_down_leaves_no_container_of_its_nodes(tmp_path: Path) -> None:
    """A node keeps warm containers (executor/warm.py); SIGTERM makes it remove them, and
    `devstack down` removes any a killed node left."""
    env = {k: v for k, v in os.environ.items() if k != "CODSH_IPFS"}
    env["CODSH_HOME"] = str(tmp_path / "home")
    env["IPFS_PATH"] = str(tmp_path / "no-user-kubo")
    engine = docker.from_env()
    try:
        assert codsh("devstack", "up", "--nodes", "1", env=env).code == 0
        exports = codsh("devstack", "env", env=env).out.decode()
        client = {**env, **dict(re.findall(r"export (\w+)=(\S+)", exports))}
        cid = add(env, write_tree(tmp_path / "in", {"a.txt": b"hello\n"}))
        ran = codsh("run", "-e", "cat", "--no-memo", "-c", cid, env=client)
        assert ran.code == 0, ran.err
        cluster = cluster_id(tmp_path / "home" / "devstack" / "tls")
        filters = {"label": f"{CLUSTER_LABEL}={cluster}"}
        deadline = time.monotonic() + 30
        while not engine.api.containers(all=True, filters=filters):  # made after the job
            assert time.monotonic() < deadline, "the node made no warm container"
            time.sleep(0.1)
        worker = int((tmp_path / "home" / "devstack" / "node0" / "worker.pid").read_text())
        os.kill(worker, signal.SIGTERM)  # as systemd stops it: the node removes its own
        while pid_alive(worker):
            assert time.monotonic() < deadline + 30, "the node did not stop on SIGTERM"
            time.sleep(0.1)
        assert engine.api.containers(all=True, filters=filters) == []
    finally:
        down = codsh("devstack", "down", env=env)
    assert down.code == 0, down.err
    assert engine.api.containers(all=True, filters=filters) == []
