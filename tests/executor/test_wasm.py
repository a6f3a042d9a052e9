"""The WASM executor against real kubo: outputs and CIDs, fuel, memory, time and output bounds,
determinism, and bad modules. The modules are WAT sources beside this file, compiled here."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest
import trio
import wasmtime

from codsh.core.determinism import EPOCH_NS, TICK_NS, RandomStream, file_seed
from codsh.core.model import FileResult, InputFile, Shard
from codsh.core.spec import Limits
from codsh.errors import InputError
from codsh.executor.wasm import (
    WasmLimits,
    WasmShardRunner,
    compile_module,
    make_engine,
    run_module,
)
from codsh.ipfs.client import KuboClient
from codsh.ipfs.multipart import AddEntry
from codsh.ipfs.sources import once
from codsh.kubo_daemon import KuboProcess
from tests.conftest import ipfs_cli, run

WAT = Path(__file__).parent / "wasm"


def module(name: str) -> bytes:
    return bytes(wasmtime.wat2wasm((WAT / f"{name}.wat").read_text()))


def grep_rain(data: bytes) -> bytes:
    """What grep_rain.wat does, in Python: lines containing b"rain", byte for byte."""
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    return b"".join(line for line in lines if b"rain" in line)


def cid_of(kubo: KuboProcess, data: bytes) -> str:
    """The CID the real CLI gives `data` with codsh's canonical settings (256 KiB chunks default)."""
    args = ("add", "-Q", "-n", "--cid-version=1", "--raw-leaves")
    return ipfs_cli(kubo, *args, stdin=data).decode().strip()


def run_wasm(
    kubo: KuboProcess, wasm: bytes, contents: list[bytes], scratch: Path, **limits: float
) -> tuple[list[FileResult], dict[str, int]]:
    """Add `contents` as files f0..fN, run them as one shard; results in file order and fuel."""

    async def go() -> tuple[list[FileResult], dict[str, int]]:
        async with KuboClient(kubo.api_url) as ipfs:
            added = await ipfs.add([AddEntry(f"f{i}", once(c)) for i, c in enumerate(contents)])
            files = tuple(
                InputFile(a.name, a.cid, len(c)) for a, c in zip(added, contents, strict=True)
            )
            runner = WasmShardRunner(wasm, ipfs, WasmLimits(**limits), scratch)  # type: ignore[arg-type]
            reported: list[FileResult] = []
            results = await runner.run(Shard(0, files), reported.append)
            assert sorted(r.path for r in reported) == sorted(f.path for f in files)
            return results, {r.path: r.fuel for r in results}

    return run(go)


def cat(kubo: KuboProcess, cid: str | None) -> bytes:
    assert cid is not None
    return ipfs_cli(kubo, "cat", cid)


def test_line_filter_matches_python_and_the_cli_cids(kubo: KuboProcess, tmp_path: Path) -> None:
    noise = random.Random(5)
    binary = bytes(noise.randrange(256) for _ in range(20_000)) + b"\0rain\xff\n\x00dry"
    big = b"".join(b"%d,%s\n" % (i, b"rain" if i % 2 == 0 else b"dry") for i in range(60_000))
    contents = [b"rain 1\ndry\nmore rain", b"", binary, b"no match\n", big, b"rain"]
    results, fuel = run_wasm(kubo, module("grep_rain"), contents, tmp_path)
    assert len(big) > 2 * 256 * 1024 and len(grep_rain(big)) > 256 * 1024  # multi-block both ways
    for data, result in zip(contents, results, strict=True):
        expected = grep_rain(data)
        matched = bool(expected)
        assert result.exit_code == (0 if matched else 1), result  # grep's convention
        assert result.error == (None if matched else "exited with code 1")
        assert cat(kubo, result.output_cid) == expected
        assert result.output_cid == cid_of(kubo, expected)  # what the Docker executor would give
        assert result.output_size == len(expected)
        assert result.output_tsize >= len(expected)
        assert fuel[result.path] > 0
    assert fuel["f4"] > 100 * fuel["f0"]  # fuel follows the work: per byte scanned
    assert list(tmp_path.iterdir()) == []  # the shard's scratch is removed


def test_fuel_exhaustion_fails_that_file_and_the_shard_goes_on(
    kubo: KuboProcess, tmp_path: Path
) -> None:
    long_input = b"dry\n" * 50_000
    contents = [b"rain\n", long_input, b"rain again\n"]
    results, fuel = run_wasm(kubo, module("grep_rain"), contents, tmp_path, fuel=200_000)
    assert results[0].ok and cat(kubo, results[0].output_cid) == b"rain\n"
    assert results[1].exit_code is None
    assert results[1].error == (
        "out of fuel after 200000 units: the module ran longer than --fuel allows; raise it"
    )
    assert fuel["f1"] == 200_000
    assert results[2].ok and cat(kubo, results[2].output_cid) == b"rain again\n"


def test_an_endless_module_is_stopped_by_fuel_or_by_the_timeout(
    kubo: KuboProcess, tmp_path: Path
) -> None:
    spin = module("spin")
    results, fuel = run_wasm(kubo, spin, [b"a", b"b"], tmp_path, fuel=1_000_000)
    assert [r.error for r in results] == [
        "out of fuel after 1000000 units: the module ran longer than --fuel allows; raise it"
    ] * 2
    assert fuel == {"f0": 1_000_000, "f1": 1_000_000}  # deterministic: the same count every run
    results, _ = run_wasm(kubo, spin, [b"a"], tmp_path, fuel=10**15, timeout=0.3)
    assert results[0].error == "timed out after 0.3s (the module was stopped)"
    assert 0.3 <= results[0].seconds < 5  # the deadline is checked every EPOCH_TICK


def test_memory_limit_gives_a_clear_error(kubo: KuboProcess, tmp_path: Path) -> None:
    big = b"rain\n" * 400_000  # 2 MB: grep_rain reads all of it into memory
    results, _ = run_wasm(kubo, module("grep_rain"), [b"rain\n", big], tmp_path, memory=1 << 20)
    assert results[0].ok
    error = results[1].error
    assert error is not None and error.startswith("memory limit exceeded"), error
    assert "trap: wasm `unreachable` instruction executed" in error
    assert results[1].stderr == "grep_rain: out of memory\n"
    assert cat(kubo, results[1].stderr_cid) == b"grep_rain: out of memory\n"


def test_output_past_the_limit_keeps_the_first_part(kubo: KuboProcess, tmp_path: Path) -> None:
    results, _ = run_wasm(kubo, module("grep_rain"), [b"rain\n" * 1000], tmp_path, output=100)
    error = results[0].error
    assert error is not None and "output larger than the limit (100 bytes)" in error
    assert results[0].exit_code == 2  # grep_rain stops when stdout refuses a write
    assert results[0].output_cid == cid_of(kubo, (b"rain\n" * 1000)[:100])


def test_seeded_randomness_and_a_virtual_clock_same_output_cid_every_run(
    kubo: KuboProcess, tmp_path: Path
) -> None:
    entropy = module("entropy")
    first, _ = run_wasm(kubo, entropy, [b"x"], tmp_path)
    second, _ = run_wasm(kubo, entropy, [b"x"], tmp_path)
    output = cat(kubo, first[0].output_cid)
    errnos = struct.unpack("<5i", output[:20])
    assert errnos == (0,) * 5  # clock_time_get x2, clock_res_get, random_get, poll_oneoff
    realtime, monotonic = struct.unpack("<2Q", output[20:36])
    assert (realtime, monotonic) == (EPOCH_NS, EPOCH_NS + TICK_NS)  # 2000-01-01, a tick per read
    seed = file_seed(b"", cid_of(kubo, b"x"))  # the runner's job seed (none here) and the file
    assert output[36:] == RandomStream(seed).read(16)
    assert first[0].ok and first[0].output_cid == second[0].output_cid


def test_the_same_module_and_input_give_the_same_cid_twice(
    kubo: KuboProcess, tmp_path: Path
) -> None:
    contents = [b"rain\ndry\n", b"drizzle\nrainfall\n"]
    first, fuel_first = run_wasm(kubo, module("grep_rain"), contents, tmp_path)
    second, fuel_second = run_wasm(kubo, module("grep_rain"), contents, tmp_path)
    assert [r.output_cid for r in first] == [r.output_cid for r in second]
    assert fuel_first == fuel_second


def test_shards_of_one_runner_run_at_once(kubo: KuboProcess, tmp_path: Path) -> None:
    """Slots: several shards share the runner's compiled module, each file in its own store."""
    contents = [b"rain %d\ndry\n" % i for i in range(24)]

    async def go() -> list[FileResult]:
        async with KuboClient(kubo.api_url) as ipfs:
            added = await ipfs.add([AddEntry(f"f{i}", once(c)) for i, c in enumerate(contents)])
            files = [InputFile(a.name, a.cid, len(c)) for a, c in zip(added, contents, strict=True)]
            runner = WasmShardRunner(module("grep_rain"), ipfs, scratch_root=tmp_path)
            results: list[FileResult] = []

            async def one(shard: Shard) -> None:
                results.extend(await runner.run(shard))

            async with trio.open_nursery() as nursery:
                for k in range(4):
                    nursery.start_soon(one, Shard(k, tuple(files[k::4])))
            return results

    results = run(go)
    assert len(results) == len(contents) and all(r.ok and r.fuel > 0 for r in results)
    for result in results:
        assert cat(kubo, result.output_cid) == b"rain %d\n" % int(result.path[1:])


@pytest.mark.parametrize(
    ("wasm", "message"),
    [
        (b"#!/bin/sh\necho hi\n", "not WebAssembly"),
        (b"\0asm\x01\0\0\0\x01\xff", "does not compile"),
        (wasmtime.wat2wasm('(module (func (export "main")))'), "no _start function"),
        (
            wasmtime.wat2wasm(
                '(module (import "env" "now" (func)) (func (export "_start")))',
            ),
            "import codsh does not provide",
        ),
    ],
)
def test_a_bad_module_fails_before_any_file_runs(
    kubo: KuboProcess, tmp_path: Path, wasm: bytes, message: str
) -> None:
    async def go() -> None:
        async with KuboClient(kubo.api_url) as ipfs:
            with pytest.raises(InputError, match=message):
                WasmShardRunner(bytes(wasm), ipfs, scratch_root=tmp_path)

    run(go)
    assert list(tmp_path.iterdir()) == []


def test_job_limits_map_to_module_limits() -> None:
    limits = WasmLimits.from_limits(Limits(timeout=5, memory=1 << 20, output=10, stderr=20), fuel=7)
    assert limits == WasmLimits(fuel=7, memory=1 << 20, timeout=5, output=10, stderr=20)


def test_a_module_is_compiled_once_per_engine(tmp_path: Path) -> None:
    engine = make_engine()
    wasm = module("grep_rain")
    compiled = compile_module(wasm, engine)
    assert compile_module(wasm, engine) is compiled
    assert compile_module(wasm, make_engine()) is not compiled  # code belongs to its engine
    (tmp_path / "in").write_bytes(b"rain\n")
    stdin, stdout, stderr = (tmp_path / name for name in ("in", "out", "err"))
    outcome = run_module(compiled, engine, stdin, stdout, stderr)
    assert (outcome.exit_code, outcome.error) == (0, None)
    assert (tmp_path / "out").read_bytes() == b"rain\n"
