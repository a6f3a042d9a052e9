"""The shard executor against real kubo and real Docker: streaming, timeouts, cleanup, hardening."""

from __future__ import annotations

from pathlib import Path

import docker

from codsh.core.model import FileResult, InputFile, Shard
from codsh.core.spec import JobSpec, Limits
from codsh.executor.shard import ShardRunner
from codsh.executor.warm import WarmPool
from codsh.ipfs.client import KuboClient
from codsh.ipfs.multipart import AddEntry
from codsh.kubo_daemon import KuboProcess
from tests.conftest import run


async def _bytes(data: bytes):  # type: ignore[no-untyped-def]
    yield data


def run_shard(
    kubo: KuboProcess,
    engine: docker.DockerClient,
    image_id: str,
    command: str,
    contents: list[bytes],
    scratch: Path,
    pool: WarmPool | None = None,
    **limits: float,
) -> list[FileResult]:
    """Add `contents` as files f0..fN, run them as one shard, return results in file order
    (with `pool`: as a long-lived node runs it, in a warm container when one is ready)."""

    async def go() -> list[FileResult]:
        async with KuboClient(kubo.api_url) as ipfs:
            added = await ipfs.add([AddEntry(f"f{i}", _bytes(c)) for i, c in enumerate(contents)])
            files = tuple(
                InputFile(a.name, a.cid, len(c)) for a, c in zip(added, contents, strict=True)
            )
            spec = JobSpec(command, "unused", image_digest=image_id, limits=Limits(**limits))  # type: ignore[arg-type]
            labels = {"org.codsh.job": "j"}
            runner = ShardRunner(spec, ipfs, engine, scratch, labels, pool=pool)
            results = await runner.run(Shard(0, files))
            return sorted(results, key=lambda r: int(r.path[1:]))

    return run(go)


def cat(kubo: KuboProcess, cid: str | None) -> bytes:
    assert cid is not None

    async def go() -> bytes:
        async with KuboClient(kubo.api_url) as ipfs:
            return b"".join([chunk async for chunk in ipfs.cat(cid)])

    return run(go)


def codsh_containers(engine: docker.DockerClient, scratch_root: Path) -> list[object]:
    """Shard containers (running or not) whose scratch lies under `scratch_root`."""
    found = []
    for container in engine.containers.list(all=True, filters={"label": "org.codsh.role=shard"}):
        sources = [m.get("Source", "") for m in container.attrs.get("Mounts", [])]
        if any(src.startswith(str(scratch_root)) for src in sources):
            found.append(container)
    return found


def test_many_files_one_container_outputs_in_order(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    contents = [f"rain {i}\ndry {i}\n".encode() for i in range(60)]
    results = run_shard(kubo, engine, image_id, "grep rain", contents, tmp_path)
    assert [r.exit_code for r in results] == [0] * 60
    assert all(r.ok for r in results)
    for i, result in enumerate(results):
        assert cat(kubo, result.output_cid) == f"rain {i}\n".encode()
        assert result.output_size == len(f"rain {i}\n")
    assert list(tmp_path.iterdir()) == []  # the shard's scratch (FIFOs) is removed
    assert codsh_containers(engine, tmp_path) == []  # and its container


def test_command_that_ignores_stdin_does_not_hang(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    big = b"x" * (3 * 1024 * 1024)  # more than a pipe buffer and a prefetch window
    results = run_shard(kubo, engine, image_id, "echo done", [big, big, b""], tmp_path, timeout=30)
    assert [cat(kubo, r.output_cid) for r in results] == [b"done\n"] * 3
    assert all(r.ok for r in results)


def test_head_stops_reading_early(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    lines = b"".join(b"line %d\n" % i for i in range(200_000))
    results = run_shard(kubo, engine, image_id, "head -n 2", [lines, lines], tmp_path, timeout=30)
    assert [cat(kubo, r.output_cid) for r in results] == [b"line 0\nline 1\n"] * 2


def test_timeout_kills_the_container_and_the_shard_goes_on(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    command = 'read line; if [ "$line" = loop ]; then while :; do :; done; else echo "$line"; fi'
    results = run_shard(
        kubo, engine, image_id, command, [b"a\n", b"loop\n", b"c\n"], tmp_path, timeout=2
    )
    assert results[0].ok and cat(kubo, results[0].output_cid) == b"a\n"
    assert results[1].exit_code is None
    assert results[1].error is not None and "timed out after 2s" in results[1].error
    assert results[2].ok and cat(kubo, results[2].output_cid) == b"c\n"
    assert codsh_containers(engine, tmp_path) == []


def test_stderr_is_captured_capped_and_stored(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    command = "echo out; echo 'something went wrong' >&2; yes err | head -c 200000 >&2; exit 3"
    results = run_shard(kubo, engine, image_id, command, [b""], tmp_path, stderr=1000)
    result = results[0]
    assert result.exit_code == 3
    assert result.error == "exited with code 3"
    assert cat(kubo, result.output_cid) == b"out\n"  # output of a failing file is kept
    assert result.stderr.startswith("something went wrong\n")
    assert len(result.stderr) == 1000
    assert cat(kubo, result.stderr_cid) == result.stderr.encode()


def test_output_limit_keeps_the_first_part(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    command = 'if read x; then echo "$x"; else yes; fi'
    results = run_shard(
        kubo, engine, image_id, command, [b"", b"ok\n"], tmp_path, output=100_000, timeout=30
    )
    assert results[0].error is not None and "output larger than the limit" in results[0].error
    assert cat(kubo, results[0].output_cid) == (b"y\n" * 50_000)
    assert results[1].ok and cat(kubo, results[1].output_cid) == b"ok\n"


def test_container_is_hardened(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    probe = (
        "id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; "
        "cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' '; "
        "touch /x 2>/dev/null && echo rootfs-writable || echo rootfs-readonly; "
        "touch /io/x 2>/dev/null && echo io-writable || echo io-readonly; "
        "cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/memory.max 2>/dev/null"
    )
    results = run_shard(kubo, engine, image_id, probe, [b""], tmp_path, pids=50, memory=100 * 2**20)
    lines = cat(kubo, results[0].output_cid).decode().split()
    assert lines[0] == "65534"
    assert "CapEff:" in lines and lines[lines.index("CapEff:") + 1] == "0000000000000000"
    assert "NoNewPrivs:" in lines and lines[lines.index("NoNewPrivs:") + 1] == "1"
    assert "lo" in lines and "eth0" not in lines
    assert "rootfs-readonly" in lines and "io-readonly" in lines
    if "50" in lines:  # cgroup v2 exposes the limits inside the container
        assert str(100 * 2**20) in lines


def test_a_simple_command_runs_without_a_shell_and_anything_else_under_sh(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    """One program with plain words is exec'd by the runner (no shell ever ran: the shell's
    SHLVL is not in its environment); shell syntax, builtins and programs not on PATH still go
    through `sh -c`, with sh's own messages."""
    for folder in "abcdef":
        (tmp_path / folder).mkdir()
    [direct] = run_shard(kubo, engine, image_id, "env", [b""], tmp_path / "a")
    direct_env = cat(kubo, direct.output_cid).decode().splitlines()
    assert "PWD=/tmp" in direct_env and not any(v.startswith("SHLVL=") for v in direct_env)
    [shell] = run_shard(kubo, engine, image_id, "env; true", [b""], tmp_path / "f")
    assert "SHLVL=1" in cat(kubo, shell.output_cid).decode().splitlines()
    parent = "cut -d' ' -f4 /proc/self/stat"
    [child] = run_shard(kubo, engine, image_id, parent + "; true", [b""], tmp_path / "b")
    assert cat(kubo, child.output_cid) != b"1\n"  # sh's child, sh being PID 1's
    same = ["tr a-z A-Z", "grep -c 'b c'", "sed -n '/b/p'"]
    for command in same:
        [alone] = run_shard(kubo, engine, image_id, command, [b"a\nb c\n"], tmp_path / "c")
        [sh] = run_shard(kubo, engine, image_id, f"{command}; :", [b"a\nb c\n"], tmp_path / "d")
        assert cat(kubo, alone.output_cid) == cat(kubo, sh.output_cid), command
    [missing] = run_shard(kubo, engine, image_id, "no-such-program -x", [b"a\n"], tmp_path / "e")
    assert missing.exit_code == 127 and "not found" in missing.stderr
