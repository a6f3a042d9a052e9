"""The calling convention, in the real codsh/python image under the executor's hardening: each form
a function can take, what happens to prints, and failures (exit 1 with the user's traceback)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from codsh.functions.bundle import MANIFEST, make_bundle
from codsh.images.python import PipTarget
from codsh.kubo_daemon import KuboProcess
from tests.pyfunctions import Ran, add_bundle, build_env, run_function

Call = Callable[..., Ran]  # (function name, stdin bytes or a file, memory=...) -> Ran
SCRIPT = """
import socket

print("loading")  # at import, on stdout: must not reach the output


def as_bytes(infile):
    return infile.read().upper()


def as_str(infile):
    return infile.read().decode().upper() + "\u00e9"


def nothing(infile):
    print("debug line")
    infile.read()


def rainy_lines(infile):
    for line in infile:
        if b"rain" in line:
            yield line


def text_lines(infile):
    return [line.decode().upper() for line in infile]


def wrap(infile, outfile):
    outfile.write(b"<")
    outfile.write(infile.read())
    return outfile.write(b">")  # a count: ignored in the two-parameter form


def fails(infile):
    data = infile.read()
    raise ValueError(f"cannot handle {len(data)} bytes")


def network(infile):
    socket.create_connection(("1.1.1.1", 53), timeout=2)


def writes_env(infile):
    open(__file__ + ".new", "w")


def returns_int(infile):
    return 42


def bad_chunk(infile):
    yield b"ok"
    yield 3


async def _coroutine(infile):
    return b""


coroutine = _coroutine  # past the client's check for `async def`
"""


@pytest.fixture
def call(
    kubo: KuboProcess,
    engine: docker.DockerClient,
    python_image: str,
    target: PipTarget,
    tmp_path: Path,
) -> Call:
    def go(name: str, stdin: bytes | Path, memory: int = 512 * 1024 * 1024) -> Ran:
        (tmp_path / "process.py").write_text(SCRIPT)
        bundle = make_bundle(tmp_path / name, tmp_path / "process.py", name, None, target)
        env = build_env(kubo, engine, python_image, add_bundle(kubo, bundle), tmp_path / "cache")
        assert env.built
        return run_function(engine, python_image, env, stdin, tmp_path / f"io-{name}", memory)

    return go


@pytest.mark.parametrize(
    ("name", "stdin", "stdout"),
    [
        ("as_bytes", b"lisbon\x00\xff", b"LISBON\x00\xff"),
        ("as_str", b"lisbon", "LISBON\u00e9".encode()),
        ("nothing", b"anything", b""),
        ("rainy_lines", b"sun 1\nrain 2\nsun 3\nrain 4", b"rain 2\nrain 4"),
        ("text_lines", b"a\nb\n", b"A\nB\n"),
        ("wrap", b"x" * 100_000, b"<" + b"x" * 100_000 + b">"),
        ("as_bytes", b"", b""),
    ],
)
def test_each_form_writes_its_result(call: Call, name: str, stdin: bytes, stdout: bytes) -> None:
    ran = call(name, stdin)
    assert (ran.code, ran.stdout) == (0, stdout), ran.stderr
    assert "loading" in ran.stderr  # prints go to stderr, never into the output
    if name == "nothing":
        assert "debug line" in ran.stderr


def test_an_exception_exits_1_with_the_users_traceback(call: Call) -> None:
    ran = call("fails", b"12345")
    assert (ran.code, ran.stdout) == (1, b"")
    assert ran.stderr.startswith("loading\nTraceback (most recent call last):\n")
    line = SCRIPT.splitlines().index('    raise ValueError(f"cannot handle {len(data)} bytes")') + 1
    assert f'File "/codsh-env/fn/process.py", line {line}, in fails' in ran.stderr
    assert ran.stderr.rstrip().endswith("ValueError: cannot handle 5 bytes")
    assert "_codsh_runner" not in ran.stderr  # the runner's own frames are left out


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("network", "OSError: [Errno 101] Network is unreachable"),
        ("writes_env", "OSError: [Errno 30] Read-only file system"),
        ("returns_int", "TypeError: the function returned int; return bytes, str, None"),
        ("bad_chunk", "TypeError: chunk 1 is int; chunks must be bytes or str"),
        ("coroutine", "TypeError: the function is async; codsh calls plain functions"),
    ],
)
def test_what_the_container_or_the_convention_refuses(call: Call, name: str, error: str) -> None:
    ran = call(name, b"data")
    assert ran.code == 1
    assert error in ran.stderr


def test_a_generator_streams_a_file_larger_than_the_memory_limit(
    call: Call, tmp_path: Path
) -> None:
    """200 MB of log lines through a line filter in a 64 MiB container: nothing is held whole."""
    line = b"2016-01-01T00:00:00,38.736946,-9.142685,12.5,1013.2,rain 0.2\n"
    big = tmp_path / "big.csv"
    with big.open("wb") as handle:
        for _ in range(200):
            handle.write(line * (1024 * 1024 // len(line)) + b"2016-01-01,sun\n" * 100)
    ran = call("rainy_lines", big, memory=64 * 1024 * 1024)
    assert ran.code == 0, ran.stderr
    assert len(ran.stdout) == 200 * (1024 * 1024 // len(line)) * len(line)
    assert ran.stdout.startswith(line) and ran.stdout.endswith(line)


def test_a_function_the_bundle_does_not_define_exits_2(
    kubo: KuboProcess, engine: docker.DockerClient, python_image: str, tmp_path: Path
) -> None:
    """A bundle made by hand, past the client's checks: the runner says what it found instead."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "process.py").write_text(SCRIPT)
    (bundle / MANIFEST).write_text('[function]\nscript = "process.py"\nname = "missing"\n')
    env = build_env(kubo, engine, python_image, add_bundle(kubo, bundle), tmp_path / "cache")
    ran = run_function(engine, python_image, env, b"x", tmp_path / "io")
    assert (ran.code, ran.stdout) == (2, b"")
    expected = "codsh: process.py has no function 'missing' (functions defined there: _coroutine,"
    assert expected in ran.stderr
