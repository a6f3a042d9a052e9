"""Metering of shards against real kubo and Docker: CPU seconds, peak memory, bytes, starts."""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

import docker
import pytest

from codsh.executor import cgroup
from codsh.executor.cgroup import PARENT, ROOT
from codsh.kubo_daemon import KuboProcess
from tests.executor.test_shard import run_shard

# busybox sh counting: CPU-bound, no I/O, the same binary in the image and on the host
SPIN = "i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done; echo $i"


def local_cpu_seconds(command: str) -> float:
    """What `time` says of the command run here (user+sys of the children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(["busybox", "sh", "-c", command], check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def test_cpu_seconds_match_what_time_measures_locally(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    """Within 20% of `time` on the host, measured just before and after (the machine is shared:
    up to three tries, as load moves both numbers)."""
    for _ in range(3):
        before = local_cpu_seconds(SPIN)
        results = run_shard(kubo, engine, image_id, SPIN, [b"", b"x"], tmp_path)
        after = local_cpu_seconds(SPIN)
        assert all(r.ok for r in results), [r.error for r in results]
        assert [r.container_starts for r in results] == [1, 0]  # one container for the shard
        metered = [r.cpu_seconds for r in results]
        print(f"cpu seconds: local {before:.3f} / {after:.3f}, metered {metered}")
        if all(any(abs(m - t) <= 0.2 * t for t in (before, after)) for m in metered):
            return
    raise AssertionError(f"metered {metered}, local {before:.3f} and {after:.3f}")


def test_peak_memory_of_a_200_mib_allocation(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    """The second file holds 200 MiB in one shell variable; the first and third stay small: the
    peak is per file (the high-water mark is reset between them)."""
    grow = "v=$(head -c 209715200 /dev/zero | tr '\\0' a); echo ${#v}"
    small = "cat >/dev/null"
    command = f'read n; if [ "$n" = big ]; then {grow}; else {small}; fi; echo done'
    results = run_shard(
        kubo,
        engine,
        image_id,
        command,
        [b"small\n", b"big\n", b"small\n"],
        tmp_path,
        memory=1 << 30,
    )
    assert all(r.ok and not r.stderr for r in results), [(r.error, r.stderr) for r in results]
    print("peak memory (MiB):", [round(r.peak_memory / 2**20, 1) for r in results])
    assert results[1].peak_memory >= 200 * 1024**2, results[1].peak_memory
    assert results[0].peak_memory < 100 * 1024**2
    assert results[2].peak_memory < 100 * 1024**2


def test_bytes_read_and_written(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    results = run_shard(kubo, engine, image_id, "cat; echo oops >&2", [b"a" * 1000], tmp_path)
    (result,) = results
    assert result.bytes_read == 1000 and result.bytes_fetched == 0  # its own kubo holds it
    assert result.bytes_written == 1000 + len("oops\n")


def test_the_shard_cgroup_is_removed(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    before = set((ROOT / "memory" / PARENT).glob("*"))
    run_shard(kubo, engine, image_id, "cat", [b"x"], tmp_path)
    assert set((ROOT / "memory" / PARENT).glob("*")) <= before


def test_without_a_visible_cgroup_the_runners_rusage_is_used(
    kubo: KuboProcess,
    engine: docker.DockerClient,
    image_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A remote or rootless engine, or the systemd driver: the runner's status line meters."""
    monkeypatch.setattr(cgroup, "usable", lambda *_: False)
    for _ in range(3):
        before = local_cpu_seconds(SPIN)
        (result,) = run_shard(kubo, engine, image_id, SPIN, [b""], tmp_path)
        after = local_cpu_seconds(SPIN)
        assert result.peak_memory > 0  # the shell's largest resident set
        print(f"rusage cpu seconds: local {before:.3f} / {after:.3f}, {result.cpu_seconds}")
        if any(abs(result.cpu_seconds - t) <= 0.2 * t for t in (before, after)):
            return
    raise AssertionError(f"metered {result.cpu_seconds}, local {before:.3f} and {after:.3f}")


def test_cgroup_v2_files_are_read(tmp_path: Path) -> None:
    """The v2 names (cpu.stat usage_usec, memory.peak) on a v2-shaped tree."""
    (tmp_path / "cgroup.controllers").write_text("cpu memory\n")
    group = cgroup.ShardCgroup(tmp_path, name="s")
    (tmp_path / "codsh" / "s").mkdir(parents=True)
    (tmp_path / "codsh" / "s" / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\n")
    (tmp_path / "codsh" / "s" / "memory.peak").write_text("1048576\n")
    assert group.v2 and group.parent == "/codsh/s"
    assert group.cpu_seconds() == 2.5
    group.reset_peak()  # opens memory.peak (a plain file here: the write lands in it)
    (tmp_path / "codsh" / "s" / "memory.peak").write_text("4096\n")
    assert group.peak_memory() == 4096
    group.remove()
    assert not (tmp_path / "codsh" / "s").exists() or any((tmp_path / "codsh" / "s").iterdir())
