"""`codsh job submit -x MODULE` end to end: a WASI module from IPFS over every file, metered by fuel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import wasmtime

from tests.commands.cli import add, assert_usage_error, cat, codsh, fetch
from tests.executor.test_wasm import grep_rain

WAT = Path(__file__).parent.parent / "executor" / "wasm"
FILES = {
    "a.txt": b"rain in Lisbon\nsun in Porto\nmore rain\n",
    "sub/b.txt": b"no match here\n",
    "sub/c.log": b"",
    "d.bin": bytes(range(256)) * 4 + b"\nrain\n",
}


def module_cid(env: dict[str, str], tmp_path: Path, name: str) -> str:
    path = tmp_path / f"{name}.wasm"
    path.write_bytes(wasmtime.wat2wasm((WAT / f"{name}.wat").read_text()))
    return add(env, path)


@pytest.fixture
def data(env: dict[str, str], tmp_path: Path) -> str:
    return add(env, tmp_path / "data", dict(FILES))


def test_a_module_filters_every_file_and_reports_fuel(
    env: dict[str, str], tmp_path: Path, data: str
) -> None:
    module = module_cid(env, tmp_path, "grep_rain")
    result = codsh("job", "submit", "-x", module, "-c", data, "--json", env=env)
    assert result.code == 1, result.err  # like grep: files without a match exit 1
    record = json.loads(result.out)
    assert record["spec"]["kind"] == "wasm" and record["spec"]["program"] == module
    outputs = fetch(env, record["output"], tmp_path / "out")
    assert outputs == {
        "a.txt": grep_rain(FILES["a.txt"]),
        "sub": None,
        "sub/b.txt": b"",
        "sub/c.log": b"",
        "d.bin": grep_rain(FILES["d.bin"]),
    }
    manifest = json.loads(cat(env, record["manifest"]))
    by_path = {f["path"]: f for f in manifest["files"]}
    assert by_path["a.txt"]["exit_code"] == 0 and by_path["a.txt"]["fuel"] > 0
    assert by_path["sub/b.txt"]["exit_code"] == 1
    # same module, same input: the same CID again (and from the memo, nothing runs)
    again = codsh("run", "-x", module, "-c", data, "--json", env=env)
    assert json.loads(again.out)["output"] == record["output"]
    assert json.loads(again.out)["reused"] == 4


def test_fuel_exhaustion_is_a_clear_per_file_error(
    env: dict[str, str], tmp_path: Path, data: str
) -> None:
    module = module_cid(env, tmp_path, "spin")
    result = codsh("run", "-x", module, "-c", data, "--fuel", "100000", "--json", env=env)
    assert result.code == 1, result.err
    record = json.loads(result.out)
    assert record["failed"] == len(FILES)
    assert all("out of fuel" in f["error"] for f in record["failures"])


def test_a_file_that_is_not_a_module_is_refused(
    env: dict[str, str], tmp_path: Path, data: str
) -> None:
    (tmp_path / "notes.txt").write_text("not wasm\n")
    text = add(env, tmp_path / "notes.txt")
    assert_usage_error(codsh("run", "-x", text, "-c", data, env=env), "neither")
    broken = tmp_path / "broken.wasm"
    broken.write_bytes(b"\0asm\x01\0\0\0garbage")
    assert_usage_error(codsh("run", "-x", add(env, broken), "-c", data, env=env))


def test_one_program_at_a_time(env: dict[str, str], data: str) -> None:
    assert_usage_error(
        codsh("run", "-e", "cat", "-x", data, "-c", data, env=env), "cannot be combined"
    )
    assert_usage_error(codsh("run", "-c", data, env=env), "-e CMD")
