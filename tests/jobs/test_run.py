"""One job on one node, end to end against real kubo and Docker: interop, determinism, big files."""

from __future__ import annotations

import resource
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import docker
import pytest

from codsh.core.model import path_order
from codsh.core.spec import CONCAT, PER_FILE, JobSpec
from codsh.ipfs.client import AddOptions, KuboClient
from codsh.ipfs.multipart import AddEntry
from codsh.jobs.finish import JobResult
from codsh.jobs.local import LocalExecution
from codsh.jobs.run import run_job
from codsh.kubo_daemon import KuboProcess
from tests.conftest import ipfs_cli, run

LISBON = "sed -n '/38.7[2-4]....,-9.1[3-5]..../p'"


def weather_tree(root: Path, files: int) -> dict[str, bytes]:
    """Hourly-log-like files in nested folders; every third line is within the Lisbon box."""
    contents = {}
    for index in range(files):
        rel = f"{2016 + index % 3}/{index % 12 + 1:02d}/hour {index:03d}.log"
        lines = [
            f"2016-01-01T00:{m:02d}:00Z,38.73{index % 10}946,-9.14{m % 10}685,14.2,1013.2,0.4"
            if m % 3 == 0
            else f"2016-01-01T00:{m:02d}:00Z,41.157944,-8.629105,12.0,1010.0,0.0"
            for m in range(7)
        ]
        data = ("\n".join(lines) + "\n").encode()
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        contents[rel] = data
    return contents


def local(command: str, data: bytes) -> bytes:
    return subprocess.run(["sh", "-c", command], input=data, capture_output=True, check=True).stdout


def submit(kubo: KuboProcess, engine: docker.DockerClient, spec: JobSpec) -> JobResult:
    async def go() -> JobResult:
        async with KuboClient(kubo.api_url) as ipfs:
            return await run_job(spec, ipfs, LocalExecution(engine))

    return run(go)


def add_tree(kubo: KuboProcess, root: Path) -> str:
    async def go() -> str:
        async with KuboClient(kubo.api_url) as ipfs:
            return (await ipfs.add_paths([root]))[-1].cid

    return run(go)


def test_per_file_and_concat_read_back_with_the_real_ipfs_cli(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    contents = weather_tree(tmp_path / "logs", 40)
    cid = add_tree(kubo, tmp_path / "logs")

    per_file = submit(kubo, engine, JobSpec(LISBON, cid, image_digest=image_id, mode=PER_FILE))
    assert per_file.ok and len(per_file.files) == 40
    for rel, data in contents.items():
        got = ipfs_cli(kubo, "cat", f"/ipfs/{per_file.output_cid}/{rel}")
        assert got == local(LISBON, data), rel
    listing = ipfs_cli(kubo, "ls", f"/ipfs/{per_file.output_cid}").decode().split()
    assert {"2016/", "2017/", "2018/"} <= set(listing)

    concat = submit(kubo, engine, JobSpec(LISBON, cid, image_digest=image_id, mode=CONCAT))
    ordered = sorted(contents, key=path_order)
    expected = b"".join(local(LISBON, contents[rel]) for rel in ordered)
    assert ipfs_cli(kubo, "cat", concat.output_cid) == expected

    again = submit(kubo, engine, JobSpec(LISBON, cid, image_digest=image_id, mode=PER_FILE))
    assert again.output_cid == per_file.output_cid  # a pure function of command, image, input
    assert again.manifest_cid != per_file.manifest_cid or again.seconds == per_file.seconds


def test_concat_of_many_outputs_is_a_tree_that_reads_back_in_order(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    root = tmp_path / "many"
    root.mkdir()
    for index in range(400):  # more than 174 children: two levels of file nodes
        (root / f"f{index:04d}").write_bytes(b"" if index % 7 == 0 else b"%d\n" % index)
    cid = add_tree(kubo, root)
    result = submit(kubo, engine, JobSpec("cat", cid, image_digest=image_id, mode=CONCAT))
    expected = b"".join(b"" if i % 7 == 0 else b"%d\n" % i for i in range(400))
    assert ipfs_cli(kubo, "cat", result.output_cid) == expected
    stat = ipfs_cli(kubo, "dag", "get", result.output_cid).decode()
    assert stat.count('"Hash"') == 3  # ceil(400 / 174) children under the root


def test_a_file_cid_is_a_one_file_dataset(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    contents = weather_tree(tmp_path / "one", 1)
    cid = add_tree(kubo, tmp_path / "one")
    rel = next(iter(contents))
    result = submit(kubo, engine, JobSpec(LISBON, f"{cid}/{rel}", image_digest=image_id))
    assert result.ok and [f.path for f in result.files] == [""]
    assert ipfs_cli(kubo, "cat", result.output_cid) == local(LISBON, contents[rel])


@pytest.mark.slow
def test_a_2_gib_file_streams_through_with_bounded_memory(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str
) -> None:
    size = 2 * 1024**3
    block = b"".join(b"%015d\n" % i for i in range(16384))  # 256 KiB of lines

    async def two_gib() -> AsyncIterator[bytes]:
        for _ in range(size // len(block)):
            yield block

    async def go() -> tuple[str, JobResult]:
        async with KuboClient(kubo.api_url) as ipfs:
            added = await ipfs.add([AddEntry("big", two_gib())], AddOptions())
            cid = added[-1].cid
            spec = JobSpec("wc -c", cid, image_digest=image_id)
            return cid, await run_job(spec, ipfs, LocalExecution(engine))

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _, result = run(go, deadline=900)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert result.ok
    assert ipfs_cli(kubo, "cat", result.output_cid).strip() == str(size).encode()
    assert grown_kib < 200 * 1024, f"peak RSS grew by {grown_kib} KiB while streaming 2 GiB"


def test_an_image_without_sh_fails_its_files_and_keeps_the_job(
    kubo: KuboProcess, engine: docker.DockerClient, tmp_path: Path
) -> None:
    context = tmp_path / "image"
    context.mkdir()
    (context / "bb").write_bytes(Path("/bin/busybox").read_bytes())
    (context / "Dockerfile").write_text("FROM scratch\nCOPY bb /bb\n")
    broken, _ = engine.images.build(path=str(context), tag="codsh-test/no-sh:latest", rm=True)
    try:
        contents = weather_tree(tmp_path / "logs", 3)
        cid = add_tree(kubo, tmp_path / "logs")
        result = submit(kubo, engine, JobSpec("cat", cid, image_digest=str(broken.id)))
        left = engine.containers.list(all=True, filters={"ancestor": str(broken.id)})
    finally:
        engine.images.remove(str(broken.id), force=True)
    assert len(result.files) == len(contents) and len(result.failed) == len(contents)
    assert all("/bin/sh" in (r.error or "") for r in result.failed)
    assert left == []  # a container that could not start is removed too
    assert ipfs_cli(kubo, "ls", result.output_cid)  # the job still produced its (empty) outputs
