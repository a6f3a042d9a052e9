"""Every shard's run reports what it used (issue 12's metering): the manifest's `shards` sums
its files' use, and its wall time covers them and the container's start."""

from __future__ import annotations

import json
from pathlib import Path

import docker

from codsh.core.model import FileResult, ShardUse
from codsh.core.spec import JobSpec, RunTarget
from codsh.kubo_daemon import KuboProcess
from tests.conftest import ipfs_cli
from tests.jobs.test_run import add_tree, submit


def test_shard_use_sums_its_files_and_leaves_remembered_ones_out() -> None:
    files = [
        FileResult("a", "x", 1, cpu_seconds=0.5, peak_memory=10, bytes_read=4, container_starts=1),
        FileResult("b", "y", 1, cpu_seconds=0.25, peak_memory=30, bytes_written=7, fuel=3),
        FileResult("c", "z", 1, cpu_seconds=9.0, reused=True),
    ]
    use = ShardUse.of(2, "node0", files, 1.23456)
    assert use == ShardUse(2, "node0", 2, 1.235, 0.75, 30, 4, 0, 7, 1, 3)


def test_the_manifest_says_what_each_shard_used(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    root = tmp_path / "in"
    root.mkdir()
    for index in range(6):
        (root / f"{index}.txt").write_text(f"line {index}\n" * 1000)
    cid = add_tree(kubo, root)
    spec = JobSpec("md5sum", cid, image_digest=image_id, target=RunTarget(shard_size=3, slots=2))
    result = submit(kubo, engine, spec)
    assert result.ok
    shards = json.loads(ipfs_cli(kubo, "cat", result.manifest_cid))["shards"]
    assert sorted(s["index"] for s in shards) == [0, 1] and sum(s["files"] for s in shards) == 6
    for shard in shards:
        assert shard["container_starts"] == 1 and shard["cpu_seconds"] > 0
        assert shard["bytes_read"] == 3 * len("line 0\n" * 1000)
        assert shard["seconds"] > 0
    slowest = max(f.seconds for f in result.files)
    assert max(s["seconds"] for s in shards) >= slowest  # a shard's time covers its files'
