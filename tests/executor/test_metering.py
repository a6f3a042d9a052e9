"""Metering of shards against real kubo and Docker: CPU seconds, peak memory, bytes, starts."""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

import docker

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
    results = run_shard(kubo, engine, image_id, SPIN, [b"", b"x"], tmp_path, cpus=2)
    local = min(local_cpu_seconds(SPIN) for _ in range(2))
    print(f"cpu seconds: local {local:.3f}, metered {[r.cpu_seconds for r in results]}")
    for result in results:
        assert result.ok, result.error
        assert abs(result.cpu_seconds - local) <= 0.2 * local, (result.cpu_seconds, local)
    assert [r.container_starts for r in results] == [1, 0]  # one container for the shard


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
