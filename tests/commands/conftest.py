"""Fixtures for the end-to-end CLI tests: `env` runs `codsh` against the session's kubo daemon."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codsh.kubo_daemon import KuboProcess


@pytest.fixture
def env(kubo: KuboProcess, codsh_home: Path) -> dict[str, str]:
    return {**os.environ, "CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(codsh_home)}
