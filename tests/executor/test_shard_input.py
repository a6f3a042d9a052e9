"""A shard's inputs as one kubo `cat` per run of files, against real kubo: cut back into files by
their sizes, each error and stall still the file's own, memory bounded."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

import trio

from codsh.core.model import InputFile
from codsh.core.unixfs import raw_cid
from codsh.errors import CodshError
from codsh.executor.pieces import LIMIT
from codsh.executor.shard_input import FetchStalled, ShardInput
from codsh.ipfs.client import KuboClient
from codsh.ipfs.multipart import AddEntry
from codsh.ipfs.reading import RECEIVE
from codsh.kubo_daemon import KuboProcess
from tests.conftest import run
from tests.executor.test_shard import _bytes

EMPTY_FOLDER = "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"  # in every repo


async def _added(ipfs: KuboClient, contents: Sequence[bytes]) -> list[InputFile]:
    added = await ipfs.add([AddEntry(f"f{i}", _bytes(c)) for i, c in enumerate(contents)])
    return [InputFile(a.name, a.cid, len(c)) for a, c in zip(added, contents, strict=True)]


async def _read(inputs: ShardInput, count: int, wanted: int | None = None) -> list[object]:
    """Every file's bytes (or its error), reading at most `wanted` bytes of each."""
    got: list[object] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(inputs.run)
        for index in range(count):
            data = b""
            async for item in inputs.chunks(index):
                if isinstance(item, CodshError):
                    data = item  # type: ignore[assignment]
                    break
                data += item
                if wanted is not None and len(data) >= wanted:
                    break  # the command stopped reading: the rest is dropped
            got.append(data)
        inputs.close()
    return got


def test_many_files_and_empty_ones_come_back_whole_from_one_stream(kubo: KuboProcess) -> None:
    contents = [b"", os.urandom(300_000), b"a\n", b"", os.urandom(70_000), b"\n" * 5, b""]

    async def go() -> list[object]:
        async with KuboClient(kubo.api_url) as ipfs:
            files = await _added(ipfs, contents)
            inputs = ShardInput(ipfs, files, 10.0, check_held=True)
            got = await _read(inputs, len(files))
            assert inputs.held == {f.path: True for f in files}
            assert inputs.received == {f.path: f.size for f in files if f.size}
            return got

    assert run(go) == contents


def test_what_a_command_does_not_read_is_dropped_and_the_next_file_is_exact(
    kubo: KuboProcess,
) -> None:
    contents = [os.urandom(500_000), b"second\n", os.urandom(200_000), b"last"]

    async def go() -> list[object]:
        async with KuboClient(kubo.api_url) as ipfs:
            files = await _added(ipfs, contents)
            return await _read(ShardInput(ipfs, files, 10.0, check_held=False), 4, wanted=1)

    got = run(go)
    assert got[1] == b"second\n" and got[3] == b"last"
    assert contents[0].startswith(got[0]) and contents[2].startswith(got[2])  # type: ignore[arg-type]


def test_a_wrong_size_is_the_files_own_short_read_and_shifts_nothing(kubo: KuboProcess) -> None:
    contents = [b"one\n", b"two\n", b"three\n"]

    async def go() -> list[object]:
        async with KuboClient(kubo.api_url) as ipfs:
            files = await _added(ipfs, contents)
            files[1] = replace(files[1], size=40)  # the listing is wrong about f1
            return await _read(ShardInput(ipfs, files, 10.0, check_held=False), 3)

    first, second, third = run(go)
    assert first == b"one\n" and third == b"three\n"
    assert isinstance(second, CodshError) and "kubo sent 4 of the 40 bytes" in str(second)


def test_a_file_kubo_refuses_fails_alone(kubo: KuboProcess) -> None:
    async def go() -> list[object]:
        async with KuboClient(kubo.api_url) as ipfs:
            files = await _added(ipfs, [b"one\n", b"x", b"three\n"])
            files[1] = InputFile("f1", EMPTY_FOLDER, 1)  # a directory, not a file
            return await _read(ShardInput(ipfs, files, 10.0, check_held=False), 3)

    first, second, third = run(go)
    assert first == b"one\n" and third == b"three\n"
    assert isinstance(second, CodshError) and not isinstance(second, FetchStalled)


def test_a_file_no_node_provides_stalls_alone_after_the_files_before_it(
    kubo: KuboProcess,
) -> None:
    async def go() -> list[object]:
        async with KuboClient(kubo.api_url) as ipfs:
            files = await _added(ipfs, [b"one\n", b"two\n", b"x" * 64, b"four\n"])
            files[2] = InputFile("f2", raw_cid(os.urandom(64)), 64)
            return await _read(ShardInput(ipfs, files, 1.0, check_held=False), 3)

    first, second, third = run(go)
    assert (first, second) == (b"one\n", b"two\n")
    assert isinstance(third, FetchStalled) and "no byte of f2" in str(third)


def test_reading_ahead_is_bounded_whatever_the_files_sizes(kubo: KuboProcess) -> None:
    contents = [os.urandom(1 << 20) for _ in range(16)]

    async def go() -> int:
        async with KuboClient(kubo.api_url) as ipfs:
            files = await _added(ipfs, contents)
            inputs = ShardInput(ipfs, files, 10.0, check_held=False)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(inputs.run)
                await trio.sleep(1.0)  # nobody reads
                ahead = sum(inputs.received.values())
                inputs.close()
            return ahead

    assert run(go) <= LIMIT + 2 * RECEIVE  # what is held and a read or two, not the 16 MiB
