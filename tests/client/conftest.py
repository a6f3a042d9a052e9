"""Clients of both kinds for the SDK tests: through a real `codsh serve` (the API tests'
orchestrator fixture, on the session's kubo and the real Docker engine), and in-process (on the
session's kubo, recorded in the session's job store)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import codsh
from codsh.kubo_daemon import KuboProcess
from tests.api.conftest import Orchestrator, orchestrator  # noqa: F401  (the fixture)

MODES = ("api", "local")


@pytest.fixture
def remote(orchestrator: Orchestrator) -> codsh.Client:  # noqa: F811
    return codsh.connect(orchestrator.url, orchestrator.tokens["alice"])


@pytest.fixture
def local(kubo: KuboProcess, image_id: str, monkeypatch: pytest.MonkeyPatch) -> codsh.Client:
    monkeypatch.delenv("CODSH_API", raising=False)
    return codsh.connect(ipfs=kubo.api_url)


@pytest.fixture(params=MODES)
def client(request: pytest.FixtureRequest) -> codsh.Client:
    """Each test once through the orchestrator's API, once in-process."""
    return request.getfixturevalue("remote" if request.param == "api" else "local")


@pytest.fixture(params=MODES)
def script_env(
    request: pytest.FixtureRequest, kubo: KuboProcess, codsh_home: Path, image_id: str
) -> dict[str, str]:
    """The environment of a user's script: CODSH_API and a token only (no kubo), or the local
    kubo and job store (in-process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODSH_")}
    env["CODSH_HOME"] = str(codsh_home)
    if request.param == "api":
        served: Orchestrator = request.getfixturevalue("orchestrator")
        return env | {"CODSH_API": served.url, "CODSH_TOKEN": served.tokens["bob"]}
    return env | {"CODSH_IPFS": kubo.api_url}
