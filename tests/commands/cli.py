"""Helpers for the end-to-end CLI tests: run `.venv/bin/codsh` as a subprocess, build and read trees."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CODSH = str(Path(sys.executable).with_name("codsh"))
CID = r"b[a-z2-7]{58}"
CID_LINE = re.compile(rf"{CID}\n")
Tree = dict[str, bytes | None]  # relative path -> bytes, None for a directory


@dataclass
class Result:
    code: int
    out: bytes
    err: str
    seconds: float

    @property
    def cid(self) -> str:
        text = self.out.decode()
        assert CID_LINE.fullmatch(text), f"stdout is not one CID: {text!r}; stderr: {self.err}"
        return text.strip()

    @property
    def lines(self) -> list[str]:
        return self.out.decode().splitlines()


def codsh(
    *args: str,
    env: dict[str, str],
    input: str | None = None,
    cwd: Path | None = None,
    timeout: float = 180,
) -> Result:
    """Run the real CLI; stdin is `input` when given, else closed."""
    started = time.monotonic()
    proc = subprocess.run(
        [CODSH, *args],
        env=env,
        cwd=cwd,
        input=None if input is None else input.encode(),
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr.decode(), time.monotonic() - started)


def write_tree(root: Path, tree: Tree) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in tree.items():
        path = root / rel
        if data is None:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return root


def local_tree(root: Path) -> Tree:
    return {
        p.relative_to(root).as_posix(): None if p.is_dir() else p.read_bytes()
        for p in root.rglob("*")
    }


def add(env: dict[str, str], path: Path, tree: Tree | None = None) -> str:
    """`codsh add path` (after writing `tree` there, if given); its one CID."""
    result = codsh("add", str(write_tree(path, tree) if tree else path), env=env)
    assert result.code == 0, result.err
    return result.cid


def fetch(env: dict[str, str], cid: str, dest: Path) -> Tree:
    """The whole output, read back with `codsh get`."""
    result = codsh("get", cid, "-o", str(dest), env=env)
    assert result.code == 0, result.err
    return local_tree(dest)


def cat(env: dict[str, str], path: str) -> bytes:
    result = codsh("cat", path, env=env)
    assert result.code == 0, result.err
    return result.out


def assert_usage_error(result: Result, *words: str) -> None:
    assert result.code == 2, result.err
    assert result.out == b""
    assert re.search(r"^error: \S", result.err, re.M), result.err
    assert re.search(r"^  hint: \S", result.err, re.M), result.err
    for word in words:
        assert word in result.err
