"""Each file of a shard starts from a clean state, whatever the file before it did (issue 16).

Every test runs one shard of a few files through a command that reads its first input line and,
on "evil", does something hostile; the next file ("good") must run as if it were alone. Real kubo,
real Docker, the real hardened container: each test fails on the old busybox-sh loop.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import docker
import pytest

from codsh.core.model import InputFile, Shard
from codsh.core.spec import JobSpec, Limits, RunTarget
from codsh.core.unixfs import raw_cid
from codsh.errors import InfrastructureError
from codsh.executor.container import LOG_CAP, hardened
from codsh.executor.shard import ShardRunner
from codsh.executor.streams import make_fifo
from codsh.ipfs.client import KuboClient
from codsh.ipfs.multipart import AddEntry
from codsh.kubo_daemon import KuboProcess
from tests.conftest import run
from tests.executor.test_shard import _bytes, cat, run_shard

# The innocent file prints what it sees: its own descriptors, leftovers, and that /tmp has room.
GOOD = (
    "echo fds: $(ls /proc/self/fd | tr '\\n' ' '); "
    "echo tmp: $(for d in /tmp /dev/shm /dev/mqueue; do ls -A $d; done | tr '\\n' ' '); "
    "n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo procs: $n; "  # PID 1 and this sh
    "dd if=/dev/zero of=/tmp/room bs=1M count=8 2>/dev/null && echo room: yes; "
    "echo input: $x"
)


def hostile(evil: str) -> str:
    """The shard's command: `evil` on the file whose first line is "evil", GOOD on the others."""
    return f'read -r x; if [ "$x" = evil ]; then {evil}; else {GOOD}; fi'


def good_output(kubo: KuboProcess, cid: str | None) -> list[str]:
    return cat(kubo, cid).decode().splitlines()


def assert_clean(lines: list[str]) -> None:
    assert lines[0].split() == ["fds:", "0", "1", "2", "3"]  # 3 is ls's own listing of the folder
    assert lines[1] == "tmp:"
    assert lines[2] == "procs: 2"
    assert "room: yes" in lines
    assert lines[-1] == "input: good"


def test_the_status_pipe_is_out_of_the_commands_reach(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    forge = (
        "for fd in 3 4 5 6 7 8 9; do echo 'k 0' >&$fd; echo '1 0 clean' >&$fd; done 2>/dev/null; "
        "echo '1 0 clean' > /io/ctl 2>/dev/null && echo wrote-ctl; "
        "echo '1 0 clean' > /proc/1/fd/3 2>/dev/null && echo wrote-proc; "
        "cat /io/1.in 2>/dev/null && echo read-next-input; "
        "echo forged > /io/1.out 2>/dev/null && echo wrote-next-output; "
        "echo 'S 1 0 clean' > /io/c1.out 2>/dev/null && echo wrote-status-stream; "
        "cat /io/c1.in 2>/dev/null && echo read-input-stream; "
        "for p in /proc/1/fd/*; do echo 'S 1 0 clean' > $p; done 2>/dev/null; "
        "echo done"
    )
    results = run_shard(kubo, engine, image_id, hostile(forge), [b"evil\n", b"good\n"], tmp_path)
    assert good_output(kubo, results[0].output_cid) == ["done"]
    assert results[1].exit_code == 0 and results[1].ok, results[1].error
    assert_clean(good_output(kubo, results[1].output_cid))


def test_a_fork_bomb_does_not_harm_the_next_file(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    bomb = "b() { b | b & }; b; sleep 1"
    contents = [b"evil\n", b"good\n", b"good\n"]
    results = run_shard(kubo, engine, image_id, hostile(bomb), contents, tmp_path, pids=64)
    for result in results[1:]:
        assert result.exit_code == 0 and result.ok, result.error
        assert_clean(good_output(kubo, result.output_cid))


def test_leftover_files_and_processes_are_gone_before_the_next_file(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    litter = (
        "echo secret > /tmp/.hidden; echo secret > /dev/shm/x; echo secret > /dev/mqueue/q 2>/dev/null;"
        "mkdir -p /tmp/locked/deep; echo x > /tmp/locked/deep/f; chmod 000 /tmp/locked; "
        "dd if=/dev/zero of=/tmp/fill bs=1M count=100 2>/dev/null; "
        "(sleep 600 &); sleep 600 & echo littered"
    )
    results = run_shard(kubo, engine, image_id, hostile(litter), [b"evil\n", b"good\n"], tmp_path)
    assert good_output(kubo, results[0].output_cid) == ["littered"]
    assert results[1].ok, results[1].error
    assert_clean(good_output(kubo, results[1].output_cid))


def test_a_file_that_cannot_be_cleaned_up_costs_a_fresh_container(
    kubo: KuboProcess, engine: docker.DockerClient, python_image: str, tmp_path: Path
) -> None:
    # A System V shared memory segment outlives its process and the runner does not remove it:
    # the runner says so, and the host runs the next file in a new container.
    segment = "python3 -c 'import ctypes; print(ctypes.CDLL(None).shmget(1234, 4096, 0o1666) >= 0)'"
    command = f'read -r x; if [ "$x" = evil ]; then {segment}; else cat /proc/sysvipc/shm; fi'
    results = run_shard(kubo, engine, python_image, command, [b"evil\n", b"good\n"], tmp_path)
    assert good_output(kubo, results[0].output_cid) == ["True"]
    assert results[1].ok, results[1].error
    assert len(good_output(kubo, results[1].output_cid)) == 1  # the table's header only


def test_the_command_cannot_write_into_the_host_log(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    flood = (
        "for fd in 1 2; do head -c 1000000 /dev/zero > /proc/1/fd/$fd 2>/dev/null "
        "&& echo wrote-$fd || echo denied-$fd; done"
    )
    results = run_shard(kubo, engine, image_id, hostile(flood), [b"evil\n"], tmp_path)
    assert good_output(kubo, results[0].output_cid) == ["denied-1", "denied-2"]
    options = hardened(Limits(), "0:0", {}, {})
    assert options["log_config"] == {
        "type": "json-file",
        "config": {"max-size": LOG_CAP, "max-file": "1"},
    }


def test_the_shard_scratch_is_private(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    probe = "stat -c '%a %u' /io; ls /io 2>/dev/null || echo cannot-list; id -u"
    results = run_shard(kubo, engine, image_id, probe, [b"", b""], tmp_path)
    owner = os.geteuid()
    assert good_output(kubo, results[0].output_cid) == [f"700 {owner}", "cannot-list", "65534"]
    make_fifo(tmp_path / "fifo")  # whatever the umask
    assert (tmp_path / "fifo").stat().st_mode & 0o777 == 0o600


def test_an_input_no_node_provides_gives_the_shard_back_in_seconds(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    missing = raw_cid(os.urandom(64))  # a CID kubo can look for but never find (no peers)
    done: list[str] = []

    async def go() -> None:
        async with KuboClient(kubo.api_url) as ipfs:
            [present] = await ipfs.add([AddEntry("f0", _bytes(b"here\n"))])
            files = (
                InputFile("f0", present.cid, 5),
                InputFile("f1", missing, 64),
                InputFile("f2", present.cid, 5),
            )
            spec = JobSpec(
                "cat", "unused", image_digest=image_id, target=RunTarget(find_timeout=2.0)
            )
            runner = ShardRunner(spec, ipfs, engine, tmp_path)
            await runner.run(Shard(0, files), lambda result: done.append(result.path))

    started = time.monotonic()
    with pytest.raises(InfrastructureError, match=f"no byte of f1 \\({missing}\\) in 2 s"):
        run(go)
    assert time.monotonic() - started < 15  # not the command's 300 s timeout
    assert done == ["f0"]  # finished before the stall: kept; f1 and f2 go to another node
