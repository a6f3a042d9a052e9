"""codsh.core decides without I/O: importing it must not pull in any daemon's client."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("trio", "docker", "httpcore", "distributed", "wasmtime", "sqlite3", "rich")


def test_core_imports_no_io_library() -> None:
    probe = (
        "import sys, pkgutil, importlib, codsh.core\n"
        "for m in pkgutil.iter_modules(codsh.core.__path__):\n"
        "    importlib.import_module('codsh.core.' + m.name)\n"
        f"print(','.join(sorted(n for n in {HEAVY!r} if n in sys.modules)))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert found == "", f"codsh.core imported {found}"
