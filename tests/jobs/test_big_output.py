"""Per-file outputs of any size (issue 13): a folder past kubo's HAMT threshold is merged by
reference into the HAMT-sharded directory kubo's own `ipfs add -r` makes, against real kubo."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import docker
import pytest

from codsh.core.model import FileResult
from codsh.core.spec import JobSpec
from codsh.core.unixfs import raw_cid
from codsh.inputs import InputTree
from codsh.ipfs.adding import AddResult
from codsh.ipfs.client import AddOptions, KuboClient
from codsh.ipfs.multipart import AddEntry
from codsh.jobs.finish import JobResult, store_merge
from codsh.jobs.local import LocalExecution
from codsh.jobs.run import run_job
from codsh.kubo_daemon import KuboProcess
from codsh.spread import add_spread
from tests.conftest import ipfs_cli, run

COUNT = 20_000  # 45 estimated bytes each: 900 KB, over the 256 KiB threshold (kubo shards it)


async def once(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.mark.slow  # ~20 s on a loaded 2-core machine: 20,000 files added twice
def test_20000_outputs_merge_into_kubos_own_hamt(kubo: KuboProcess, tmp_path: Path) -> None:
    """Before: the merge refused any directory past one 1 MiB block, and a folder between kubo's
    256 KiB threshold and 1 MiB got a plain node, so a CID other than kubo's."""
    salt = uuid.uuid4().hex  # fresh CIDs: whatever `ls`/`cat` find was stored by the merge
    outputs = {f"hourly/{i:05d}.log": f"{salt} {i}\n".encode() for i in range(COUNT)}
    outputs["README"] = f"{salt} logs\n".encode()

    async def merge() -> str:
        async with KuboClient(kubo.api_url) as ipfs:
            entries = [AddEntry(str(i), once(data)) for i, data in enumerate(outputs.values())]
            # one output file each, 200 to a request as a shard sends them; unpinned, as kubo
            # takes ~5 ms to pin each (the merge's recursive pin of the root covers them)
            added: dict[int, AddResult] = {}
            for start in range(0, len(entries), 200):
                for r in await ipfs.add(entries[start : start + 200], AddOptions(pin=False)):
                    added[int(r.name)] = r
            results = [
                FileResult(path, "bafkqaaa", 0, 0, added[i].cid, len(data), added[i].size)
                for i, (path, data) in enumerate(outputs.items())
            ]
            tree = InputTree([], ["empty"])
            merged = await store_merge(ipfs, JobSpec("cat", "bafkqaaa"), tree, results)
            return merged.cid

    root = run(merge, deadline=120)
    folder = tmp_path / "tree"
    for path, data in outputs.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    (folder / "empty").mkdir()
    kubos = ipfs_cli(
        kubo, "add", "-r", "-Q", "--only-hash", "--cid-version=1", "--raw-leaves", str(folder)
    )
    assert root == kubos.decode().strip()

    listed = ipfs_cli(kubo, "ls", "--size=false", "--resolve-type=false", f"{root}/hourly")
    names = [line.split()[-1] for line in listed.decode().splitlines()]
    assert names == [f"{i:05d}.log" for i in range(COUNT)]
    for index in (0, 4321, COUNT - 1):
        name = f"hourly/{index:05d}.log"
        assert ipfs_cli(kubo, "cat", f"{root}/{name}") == outputs[name]
    assert ipfs_cli(kubo, "cat", f"{root}/README") == outputs["README"]


def test_devstack_add_shards_a_wide_folder_as_kubo_does(kubo: KuboProcess, tmp_path: Path) -> None:
    """`devstack add` builds the folders itself with the merge's code; before, a folder between
    kubo's 256 KiB threshold and 1 MiB got a plain node, so another root than `codsh add` (issue
    13: 12,000 files gave two CIDs). 1,200 names of 200 bytes cross the threshold in few files.
    Here the "devstack" is the session's one kubo: the folders are what is tested."""
    salt = uuid.uuid4().hex
    folder = tmp_path / "wide"
    (folder / "sub").mkdir(parents=True)
    for index in range(1200):
        (folder / "sub" / (f"{index:04d}" + "n" * 196)).write_text(f"{salt} {index}\n")
    (folder / "top.txt").write_text(salt)
    root = run(add_spread, folder, 1, [kubo.api_url], deadline=120)
    kubos = ipfs_cli(kubo, "add", "-r", "-Q", "-n", "--cid-version=1", "--raw-leaves", str(folder))
    assert root == kubos.decode().strip()
    name = f"sub/0777{'n' * 196}"
    assert ipfs_cli(kubo, "cat", f"{root}/{name}") == f"{salt} 777\n".encode()


@pytest.mark.slow  # ~30 s: ~19,000 merge nodes put one by one
def test_a_cluster_merge_pins_tens_of_thousands_of_hamt_nodes(kubo: KuboProcess) -> None:
    """On a cluster the outputs stay on the nodes that made them, so the merge pins only its own
    nodes, directly. One pin request for all of a big HAMT's nodes had a URL past 1 MiB, and kubo
    answered 431 Request Header Fields Too Large. The outputs need not be here for that."""
    salt = uuid.uuid4().hex
    results = [
        FileResult(f"{i:06d}", "bafkqaaa", 0, 0, raw_cid(f"{salt} {i}".encode()), 40, 40)
        for i in range(70_000)
    ]

    async def merge() -> tuple[int, dict[str, str]]:
        async with KuboClient(kubo.api_url) as ipfs:
            tree = InputTree([], [])
            merged = await store_merge(ipfs, JobSpec("cat", "bafkqaaa"), tree, results, False)
            return len(merged.blocks), await ipfs.pin_ls(merged.cid)

    nodes, pinned = run(merge, deadline=150)
    assert nodes > 17_000  # 64 bytes of URL each: over kubo's 1 MiB in one request
    assert list(pinned.values()) == ["direct"]


def test_a_cat_job_over_a_wide_folder_gives_back_the_folders_cid(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    """A real per-file job end to end: `cat` copies each file, so the output tree is the input
    tree, and its CID must be the one kubo gave the input (HAMT-sharded: 1,200 long names are
    over the threshold). Before, the merge made it a plain node: another CID."""
    salt = uuid.uuid4().hex
    folder = tmp_path / "wide"
    (folder / "sub").mkdir(parents=True)
    for index in range(1200):
        (folder / "sub" / (f"{index:04d}" + "n" * 196)).write_text(f"{salt} {index}\n")

    async def go() -> tuple[str, JobResult]:
        async with KuboClient(kubo.api_url) as ipfs:
            cid = (await ipfs.add_paths([folder]))[-1].cid
            spec = JobSpec("cat", cid, image_digest=image_id)
            return cid, await run_job(spec, ipfs, LocalExecution(engine))

    cid, result = run(go, deadline=170)
    assert result.ok and len(result.files) == 1200
    assert result.output_cid == cid
    node = json.loads(ipfs_cli(kubo, "dag", "get", f"{cid}/sub"))
    assert base64.b64decode(node["Data"]["/"]["bytes"] + "==")[:2] == b"\x08\x05"  # a HAMT shard
