"""The shard runner's own unit tests (runner/*_test.go: which commands run without a shell), run
with Go as `make setup` builds the runner with it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[2] / "runner"


def test_the_runners_go_tests_pass() -> None:
    go = shutil.which("go")
    assert go, "Go builds the shard runner (make setup needs it), so it runs its tests too"
    done = subprocess.run(
        [go, "test", "./..."],
        cwd=RUNNER,
        capture_output=True,
        text=True,
        env={**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"},
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
