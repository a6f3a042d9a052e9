"""Deterministic WASM without crippled toolchains (issue 12): random_get is a stream seeded from the
job spec and the file's CID, the clocks are virtual. A Go module (Go's own GOOS=wasip1 port, built
here from tests/executor/wasm/go_determinism) and, where its target is installed, a Rust one run,
give the same output on every run and on two "replicas" (another engine, as on another node), and
another stream for another file. The pure parts (seed, stream, clock) are tested plainly."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import wasmtime

from codsh import devstack
from codsh.core.determinism import (
    ABSTIME,
    EPOCH_NS,
    EVENT_CLOCK,
    EVENT_FD_READ,
    NOT_IN_SEED,
    TICK_NS,
    Event,
    RandomStream,
    Subscription,
    VirtualClock,
    file_seed,
    job_seed,
)
from codsh.core.memo import NOT_IN_KEY
from codsh.core.model import FileResult, InputFile, Shard
from codsh.core.spec import WASM, JobSpec, Limits, RunTarget
from codsh.core.unixfs import raw_cid
from codsh.executor.wasm import WasmShardRunner, compile_module, make_engine, run_module
from codsh.ipfs.client import KuboClient
from codsh.ipfs.multipart import AddEntry
from codsh.ipfs.sources import once
from codsh.kubo_daemon import KuboProcess
from tests.cluster.test_cluster import cluster_run
from tests.conftest import ipfs_cli, run

SOURCES = Path(__file__).parent / "wasm"
CACHE = Path(__file__).resolve().parents[2] / ".tools" / "test-wasm"  # built modules, by source


def _cached(name: str, inputs: list[Path], toolchain: str, build: list[str], cwd: Path) -> bytes:
    """The module `build` writes to {out}, built once per (sources, toolchain version)."""
    digest = hashlib.sha256(toolchain.encode())
    for path in sorted(inputs):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    target = CACHE / f"{name}-{digest.hexdigest()[:16]}.wasm"
    if not target.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        env = {**os.environ, "GOOS": "wasip1", "GOARCH": "wasm", "GOTOOLCHAIN": "local"}
        command = [part.replace("{out}", str(partial)) for part in build]
        subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True, timeout=300)
        partial.rename(target)
    return target.read_bytes()


@pytest.fixture(scope="session")
def go_module() -> bytes:
    """tests/executor/wasm/go_determinism built with Go's own wasip1 port (Go is needed by
    make setup, so it is here)."""
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        pytest.fail("Go is needed to build the test module: install it (make setup needs it too)")
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout
    source = SOURCES / "go_determinism"
    inputs = [source / "main.go", source / "go.mod"]
    return _cached(
        "go_determinism", inputs, version, [go, "build", "-trimpath", "-o", "{out}", "."], source
    )


@pytest.fixture(scope="session")
def rust_module() -> bytes:
    """tests/executor/wasm/rust_hashmap.rs, where rustc has the wasm32-wasip1 target."""
    rustc = shutil.which("rustc")
    if rustc is None:
        pytest.skip("rustc is not installed")
    libdir = subprocess.run(
        [rustc, "--print", "target-libdir", "--target", "wasm32-wasip1"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not libdir or not Path(libdir).is_dir():
        pytest.skip("rustc has no wasm32-wasip1 target (rustup target add wasm32-wasip1)")
    version = subprocess.run([rustc, "-V"], capture_output=True, text=True, check=True).stdout
    source = SOURCES / "rust_hashmap.rs"
    build = [
        rustc,
        "--edition",
        "2021",
        "-O",
        "--target",
        "wasm32-wasip1",
        str(source),
        "-o",
        "{out}",
    ]
    return _cached("rust_hashmap", [source], version, build, SOURCES)


def wasm_spec(wasm: bytes, **fields: object) -> JobSpec:
    cid = raw_cid(wasm)
    return JobSpec(f"wasm {cid}", cid, kind=WASM, program=cid, **fields)  # type: ignore[arg-type]


def run_files(
    kubo: KuboProcess,
    wasm: bytes,
    contents: list[bytes],
    scratch: Path,
    seed: bytes,
    engine: wasmtime.Engine | None = None,
) -> list[FileResult]:
    """`contents` as files f0..fN, one shard, under the job seed `seed`."""

    async def go() -> list[FileResult]:
        async with KuboClient(kubo.api_url) as ipfs:
            added = await ipfs.add([AddEntry(f"f{i}", once(c)) for i, c in enumerate(contents)])
            files = tuple(
                InputFile(a.name, a.cid, len(c)) for a, c in zip(added, contents, strict=True)
            )
            runner = WasmShardRunner(wasm, ipfs, scratch_root=scratch, engine=engine, job_seed=seed)
            return await runner.run(Shard(0, files))

    return run(go)


def lines(kubo: KuboProcess, result: FileResult) -> dict[str, str]:
    assert result.ok and result.output_cid is not None, (result.error, result.stderr)
    text = ipfs_cli(kubo, "cat", result.output_cid).decode()
    return dict(line.split(" ", 1) for line in text.splitlines())


def test_a_go_module_runs_the_same_on_every_run_and_replica_and_differs_per_file(
    kubo: KuboProcess, go_module: bytes, tmp_path: Path
) -> None:
    rain, sun = b"rain\nrain\n", b"sun\n"
    contents = [rain, sun, rain]  # f2: the same bytes as f0 under another name
    spec = wasm_spec(go_module)
    first = run_files(kubo, go_module, contents, tmp_path, job_seed(spec))
    again = run_files(kubo, go_module, contents, tmp_path, job_seed(spec))
    # A replica: another engine (compiled afresh, as on another node), in a job asking 3 replicas
    replica_spec = replace(spec, replicas=3, limits=Limits(fuel=10**11, timeout=60))
    replica = run_files(kubo, go_module, contents, tmp_path, job_seed(replica_spec), make_engine())
    cids = [r.output_cid for r in first]
    assert cids == [r.output_cid for r in again] == [r.output_cid for r in replica]
    assert [r.fuel for r in first] == [r.fuel for r in again] == [r.fuel for r in replica]
    assert cids[0] == cids[2] and cids[0] != cids[1]  # the seed is the CID's, not the path's
    out_rain, out_sun = lines(kubo, first[0]), lines(kubo, first[1])
    assert out_rain["input"] == hashlib.sha256(rain).hexdigest() and out_rain["lines"] == "2"
    for key in ("math/rand", "math/rand/v2", "crypto/rand"):
        assert out_rain[key] != out_sun[key], key  # another file, another stream
    for out in (out_rain, out_sun):
        assert out["now"].startswith("2000-01-01T00:00:00.0000"), out["now"]  # the epoch, ticked
        assert out["slept"] == "true 1.75s"  # the sleeps passed on the virtual clock...
    assert all(r.seconds < 1.0 for r in first)  # ...and took no real time
    other = run_files(kubo, go_module, [rain], tmp_path, job_seed(replace(spec, command="other")))
    assert (
        lines(kubo, other[0])["math/rand"] != out_rain["math/rand"]
    )  # another spec, another stream


def test_a_rust_hashmap_works_and_is_the_same_per_seed(rust_module: bytes, tmp_path: Path) -> None:
    """The issue's case: a HashMap failed on every file with "failed to generate random data"."""
    (tmp_path / "in").write_bytes(b"rain\n")

    def once_with(seed: bytes) -> str:
        out = tmp_path / "out"
        result = run_module(rust_module, None, tmp_path / "in", out, tmp_path / "err", seed=seed)
        assert (result.exit_code, result.error) == (0, None), (tmp_path / "err").read_text()
        return out.read_text()

    first, again, other = once_with(b"a"), once_with(b"a"), once_with(b"b")
    assert first == again and "now 946684800\n" in first and "slept true\n" in first
    assert first.splitlines()[1] != other.splitlines()[1]  # the map's order follows the seed


def test_the_wasi_calls_at_their_edges(tmp_path: Path) -> None:
    """Bad pointers and clocks are errnos, not traps; an fd is ready at once; sleeps, relative or
    absolute, move the virtual clock exactly (wasi_edges.wat says what each value is)."""
    wasm = bytes(wasmtime.wat2wasm((SOURCES / "wasi_edges.wat").read_text()))
    (tmp_path / "in").write_bytes(b"")
    out = tmp_path / "out"
    result = run_module(wasm, None, tmp_path / "in", out, tmp_path / "err")
    assert (result.exit_code, result.error) == (0, None)
    values = struct.unpack("<5iqq2iqq", out.read_bytes())
    assert values == (21, 28, 28, 0, 1, 7, EPOCH_NS, 0, 1, 9, EPOCH_NS + 5 * 10**9)


def test_the_seed_covers_what_runs_not_how_or_where() -> None:
    spec = JobSpec("wasm bafk", "bafkin", kind=WASM, program="bafk")
    seed = job_seed(spec)
    same = [
        replace(spec, replicas=3),
        replace(spec, limits=Limits(fuel=7, timeout=1, memory=1 << 20)),
        replace(spec, ok_exit=(0, 1), mode="concat", input="bafkother"),
        replace(spec, target=RunTarget(select={"zone": "a"}, memo=False)),
    ]
    assert all(job_seed(s) == seed for s in same)
    assert job_seed(replace(spec, program="bafk2", command="wasm bafk2")) != seed
    assert NOT_IN_KEY <= NOT_IN_SEED  # a function of the memo key: a memo hit is a fresh run's
    assert len(seed) == 32 and file_seed(seed, "a") != file_seed(seed, "b")
    assert file_seed(seed, "a") == file_seed(job_seed(replace(spec, replicas=5)), "a")


def test_the_random_stream_is_one_stream_whatever_the_read_sizes() -> None:
    whole = RandomStream(b"seed").read(10_000)
    pieces = RandomStream(b"seed")
    assert b"".join(pieces.read(n) for n in (1, 7, 4088, 5000, 904)) == whole
    assert whole[:8] == hashlib.shake_256(b"seed" + bytes(8)).digest(8)  # the documented stream
    assert RandomStream(b"other").read(32) != whole[:32]


def test_the_virtual_clock_ticks_per_read_and_jumps_per_sleep() -> None:
    clock = VirtualClock()
    assert [clock.read(0), clock.read(1), clock.read(2)] == [
        EPOCH_NS,
        EPOCH_NS + TICK_NS,
        2 * TICK_NS,
    ]
    assert clock.read(7) is None and VirtualClock.resolution(7) is None
    sleep = Subscription(1, EVENT_CLOCK, clock_id=1, timeout=10**9)
    assert clock.poll([sleep, Subscription(2, EVENT_CLOCK, 1, 2 * 10**9)]) == [
        Event(1, EVENT_CLOCK)
    ]
    assert clock.elapsed == 3 * TICK_NS + 10**9
    past = Subscription(3, EVENT_CLOCK, 0, EPOCH_NS, ABSTIME)  # already due: fires, no time passes
    assert clock.poll([past]) == [Event(3, EVENT_CLOCK)] and clock.elapsed == 3 * TICK_NS + 10**9
    ready = clock.poll([Subscription(4, EVENT_FD_READ, 0), sleep])
    assert ready == [Event(4, EVENT_FD_READ)] and clock.elapsed == 3 * TICK_NS + 10**9
    assert clock.poll([Subscription(5, EVENT_CLOCK, 9, 1)]) == [Event(5, EVENT_CLOCK, 28)]


def test_a_node_seeds_a_jobs_module_from_its_spec(kubo: KuboProcess, go_module: bytes) -> None:
    """The node-side entry point (executor/runners.py) gives the runner the spec's seed."""
    from codsh.executor.runners import shard_runner

    async def go() -> bytes:
        async with KuboClient(kubo.api_url) as ipfs:
            (added,) = await ipfs.add([AddEntry("determinism.wasm", once(go_module))])
            spec = replace(wasm_spec(go_module), program=added.cid)
            runner, _ = await shard_runner(spec, ipfs, None)  # type: ignore[arg-type]
            assert isinstance(runner, WasmShardRunner)
            assert runner.job_seed == job_seed(spec)
            return runner.job_seed

    assert len(run(go)) == 32


def test_the_seed_survives_the_spec_going_over_the_wire() -> None:
    spec = JobSpec("wasm bafk", "bafkin", kind=WASM, program="bafk", ok_exit=(0, 3), replicas=3)
    assert job_seed(JobSpec.from_json(spec.canonical_json())) == job_seed(spec)


def test_replicas_of_a_go_module_agree_on_every_file_on_three_nodes(
    stack: list[devstack.NodeStatus], go_module: bytes, tmp_path: Path
) -> None:
    """--replicas 3 on a real 3-node devstack: each node fetches and compiles the module itself,
    every file's three runs agree (before: every run failed, Go's runtime found no clock), and
    the output is a single run's: the replica count is not in the seed."""
    for index in range(6):
        (tmp_path / f"f{index}.log").write_text(f"line {index} rain\n" * (index + 1))
    apis = [str(n.api_url) for n in stack if n.api_url]
    logs = run(devstack.add_spread, tmp_path, 1, apis)

    async def add_module() -> str:
        async with KuboClient(apis[0]) as ipfs:
            (added,) = await ipfs.add([AddEntry("determinism.wasm", once(go_module))])
            return added.cid

    program = run(add_module)
    spec = JobSpec(f"wasm {program}", logs, kind=WASM, program=program, replicas=3)
    voted = cluster_run(stack, spec)
    assert voted.ok, [(r.path, r.error) for r in voted.failed]
    assert len(voted.files) == 6
    for result in voted.files:
        assert result.vote is not None and sorted(result.vote["agreed"]) == [
            "node0",
            "node1",
            "node2",
        ]
    single = cluster_run(stack, replace(spec, replicas=1))
    assert single.ok and single.output_cid == voted.output_cid
    assert len({r.output_cid for r in voted.files}) == 6  # every file its own stream


def test_compiled_code_is_cached_under_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large module (Go's are ~3 MB, 3-10 s to compile) is compiled once per machine, not once
    per process: wasmtime's cache under the data dir."""
    monkeypatch.setenv("CODSH_HOME", str(tmp_path / "home"))
    wasm = bytes(wasmtime.wat2wasm((SOURCES / "grep_rain.wat").read_text()))
    compile_module(wasm, make_engine())
    code = tmp_path / "home" / "wasm-cache" / "code"
    assert [p for p in code.rglob("*") if p.is_file()], "nothing cached"
    engine = make_engine()  # another engine, as in another process: loads the cached code
    (tmp_path / "in").write_bytes(b"rain\ndry\n")
    result = run_module(wasm, engine, tmp_path / "in", tmp_path / "out", tmp_path / "err")
    assert (result.exit_code, (tmp_path / "out").read_bytes()) == (0, b"rain\n")
