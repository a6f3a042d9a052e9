"""The inventory's question to kubo (cluster/held.py): its cost follows the job's CIDs, not the
pins a node holds (issue 16, finding 11: ~144k pins made every job's inventory take 7-11 s)."""

from __future__ import annotations

import math
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codsh import kubo_daemon
from codsh.cluster.held import BIG, BlockIndex, split_responses, stored
from codsh.config import kubo_binary
from codsh.core.unixfs import block_key, raw_cid
from codsh.ipfs.client import KuboClient
from codsh.kubo_daemon import KuboProcess
from tests.conftest import run

PINS = 20_000  # tiny files under one pinned folder: 20,000 pins in `pin ls` for ~5 s of add


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KuboProcess, list[str]]]:
    """A kubo of its own holding PINS pinned files (one recursive pin of a folder of them: the
    cheap way to a long pin list), and the CIDs of six of them."""
    root = tmp_path_factory.mktemp("crowded")
    folder = root / "files"
    folder.mkdir()
    for index in range(PINS):
        (folder / f"{index}.txt").write_text(f"tiny {index}\n")
    process = kubo_daemon.start(root / "repo")
    try:
        env = {**os.environ, "IPFS_PATH": str(process.repo)}
        args = [kubo_binary(), "add", "-r", "-Q", "--raw-leaves", "--cid-version=1", str(folder)]
        subprocess.run(args, env=env, check=True, capture_output=True, timeout=300)
        six = [f"{index}.txt" for index in range(0, PINS, PINS // 6)][:6]
        hashes = [kubo_daemon_hash(process, folder / name) for name in six]
        yield process, hashes
    finally:
        kubo_daemon.stop(process.repo)


def kubo_daemon_hash(process: KuboProcess, path: Path) -> str:
    args = [kubo_binary(), "add", "-Q", "-n", "--raw-leaves", "--cid-version=1", str(path)]
    env = {**os.environ, "IPFS_PATH": str(process.repo)}
    return subprocess.run(args, env=env, check=True, capture_output=True).stdout.decode().strip()


def test_a_node_with_many_pins_answers_about_a_few_cids_in_milliseconds(
    crowded: tuple[KuboProcess, list[str]],
) -> None:
    process, six = crowded
    absent = [cid[:-4] + "aaaa" for cid in six]  # well-formed, never stored

    async def listing() -> float:  # what the inventory did before: every pin, indirect ones too
        started = time.monotonic()
        async with KuboClient(process.api_url) as ipfs:
            assert len(await ipfs.pin_ls()) > PINS
        return time.monotonic() - started

    async def asking() -> tuple[set[str], float]:
        started = time.monotonic()
        found = await stored(process.api_url, [*six, *absent])
        return found, time.monotonic() - started

    found, asked = run(asking)
    assert found == set(six)
    listed = run(listing)
    assert asked < 0.25 and asked < listed / 5, (asked, listed)


def test_pipelined_answers_are_split_whole_with_or_without_trailers() -> None:
    ok = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    failed = b"HTTP/1.1 500 x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Stream-Error: e\r\n\r\n"
    sized = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    statuses, rest = split_responses(ok + failed + sized + ok[:30])
    assert statuses == [200, 500, 200] and rest == ok[:30]


def test_the_block_index_answers_big_questions_as_kubo_does(
    crowded: tuple[KuboProcess, list[str]], tmp_path: Path
) -> None:
    """A question past BIG CIDs is answered from the node's block index (`refs local`, kept):
    the same answer as asking kubo per CID, after a new pin (walked, not listed again), a pin
    removed (listed again) and the node's own output pins (noted)."""
    process, _ = crowded
    files = [raw_cid(f"tiny {index}\n".encode()) for index in range(0, PINS, 5)]
    absent = [raw_cid(f"never {index}".encode()) for index in range(1_000)]
    question = files + absent
    assert len(question) >= BIG
    index = BlockIndex()
    env = {**os.environ, "IPFS_PATH": str(process.repo)}
    new_file = tmp_path / "new.txt"
    new_file.write_text("pinned after the index\n")

    def ipfs(*args: str) -> str:
        done = subprocess.run([kubo_binary(), *args], env=env, check=True, capture_output=True)
        return done.stdout.decode().strip()

    async def both(cids: list[str]) -> tuple[set[str], set[str]]:
        return await index.stored(process.api_url, cids), await stored(process.api_url, cids)

    indexed, exact = run(lambda: both(question))
    assert indexed == exact == set(files)
    built = index._built
    added = ipfs("add", "-Q", "--raw-leaves", "--cid-version=1", str(new_file))
    indexed, exact = run(lambda: both([*question, added]))
    assert added in indexed and indexed == exact and index._built == built  # walked, not listed
    ipfs("pin", "rm", added)
    indexed, exact = run(lambda: both([*question, added]))
    assert indexed == exact and index._built > built  # a pin gone: every block listed again
    built = index._built
    new_file.write_text("an output this node stored and pinned\n")
    output = ipfs("add", "-Q", "--raw-leaves", "--cid-version=1", "--pin=false", str(new_file))
    ipfs("pin", "add", "--recursive=false", output)  # a one-block output, as the node pins it
    index.note([output])  # as the node does after pinning a shard's outputs
    assert output in run(lambda: index.stored(process.api_url, [*question, output]))
    assert index._built == built


def test_between_rounds_the_index_takes_in_new_pins_and_an_unbuilt_one_stays_unbuilt(
    crowded: tuple[KuboProcess, list[str]], tmp_path: Path
) -> None:
    """A node freshens its index when idle (cluster/node.py): a dataset pinned since is walked
    then, not in the next round, which finds it taken in already."""
    process, _ = crowded
    idle = BlockIndex()
    assert not run(lambda: idle.freshen(process.api_url)) and idle._built == -math.inf
    index = BlockIndex()
    files = [raw_cid(f"tiny {index}\n".encode()) for index in range(0, PINS, 5)]
    assert run(lambda: index.stored(process.api_url, files)) == set(files)
    folder = tmp_path / "dataset"
    folder.mkdir()
    for number in range(3):
        (folder / f"{number}.txt").write_text(f"pinned between rounds {number}\n")
    env = {**os.environ, "IPFS_PATH": str(process.repo)}
    args = [kubo_binary(), "add", "-r", "-Q", "--raw-leaves", "--cid-version=1", str(folder)]
    root = subprocess.run(args, env=env, check=True, capture_output=True).stdout.decode().strip()
    assert root not in index.roots
    assert run(lambda: index.freshen(process.api_url))
    assert root in index.roots
    new = [raw_cid(f"pinned between rounds {number}\n".encode()) for number in range(3)]
    with index._lock:  # taken in: the round that asks finds them without walking
        assert all(index._has(block_key(cid)) for cid in [root, *new])


def test_a_new_pin_is_walked_only_below_what_the_index_does_not_hold(
    crowded: tuple[KuboProcess, list[str]], tmp_path: Path
) -> None:
    """A day's dataset shares its unchanged folders with the day before's: taking it in walks its
    root and its new files, not the 50 files of the folder already held."""
    process, _ = crowded
    env = {**os.environ, "IPFS_PATH": str(process.repo)}

    def add_folder(folder: Path) -> str:
        args = [kubo_binary(), "add", "-r", "-Q", "--raw-leaves", "--cid-version=1", str(folder)]
        return (
            subprocess.run(args, env=env, check=True, capture_output=True).stdout.decode().strip()
        )

    for day in ("day1", "day2"):
        (tmp_path / day / "logs").mkdir(parents=True)
        for number in range(50):
            (tmp_path / day / "logs" / f"{number}.txt").write_text(f"old reading {number}\n")
    (tmp_path / "day2" / "new.txt").write_text("the new reading\n")
    index = BlockIndex()
    files = [raw_cid(f"tiny {index}\n".encode()) for index in range(0, PINS, 5)]
    assert run(lambda: index.stored(process.api_url, files)) == set(files)
    add_folder(tmp_path / "day1")
    assert run(lambda: index.freshen(process.api_url))
    day2 = add_folder(tmp_path / "day2")

    async def walked() -> list[int]:
        async with KuboClient(process.api_url) as ipfs:
            return await index._unknown_blocks(ipfs, [day2])

    assert sorted(run(walked)) == sorted(
        block_key(c) for c in [day2, raw_cid(b"the new reading\n")]
    )
    assert run(lambda: index.freshen(process.api_url)) and day2 in index.roots
    new, old = raw_cid(b"the new reading\n"), raw_cid(b"old reading 7\n")
    assert run(lambda: index.stored(process.api_url, [*files, new, old])) == {*files, new, old}
