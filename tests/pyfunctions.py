"""Fixtures (shared through tests/conftest.py) and helpers for Python functions: the codsh/python image, its pip target, bundles added
to the session's kubo, environments built in a per-test cache, and a hardened job container."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from codsh import images
from codsh.executor.environment import (
    RUNNER_COMMAND,
    Environment,
    ensure_environment,
    env_volumes,
)
from codsh.images import python
from codsh.images.python import PipTarget
from codsh.ipfs.client import AddOptions, KuboClient
from codsh.kubo_daemon import KuboProcess
from tests.conftest import run


@pytest.fixture(scope="session")
def python_image(engine: docker.DockerClient) -> str:
    """The ID of codsh/python (normally built by `make setup`; built here if missing)."""
    return images.build(python.RECIPE, engine)[0]


@pytest.fixture(scope="session")
def target(engine: docker.DockerClient, python_image: str) -> PipTarget:
    return python.pip_target(engine)


def add_bundle(kubo: KuboProcess, folder: Path) -> str:
    """Add a bundle folder with codsh's canonical options; its root CID."""

    async def go() -> str:
        async with KuboClient(kubo.api_url) as ipfs:
            results = await ipfs.add_paths([folder], AddOptions())
        return results[-1].cid

    return run(go)


def build_env(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, cid: str, cache: Path
) -> Environment:
    async def go() -> Environment:
        async with KuboClient(kubo.api_url) as ipfs:
            return await ensure_environment(cid, image_id, ipfs, engine, cache)

    return run(go)


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: bytes
    stderr: str


def run_function(
    engine: docker.DockerClient,
    image_id: str,
    env: Environment,
    stdin: bytes | Path,
    io_dir: Path,
    memory: int = 512 * 1024 * 1024,
) -> Ran:
    """The runner once, as the executor runs it: stdin a pipe (not seekable, like its FIFOs),
    under the executor's hardening, the environment read-only at /codsh-env."""
    io_dir.mkdir()
    io_dir.chmod(0o777)  # nobody writes the outputs
    source = io_dir / "in"
    if isinstance(stdin, Path):
        source = stdin
    else:
        source.write_bytes(stdin)
    source.chmod(0o644)
    volumes = {**env_volumes(env), str(io_dir): {"bind": "/io", "mode": "rw"}}
    volumes[str(source)] = {"bind": "/io-in", "mode": "ro"}
    container = engine.containers.create(
        image_id,
        ["sh", "-c", f"cat /io-in | {RUNNER_COMMAND} >/io/out 2>/io/err"],
        network_mode="none",  # the executor's settings (codsh/executor/container.py)
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        user="65534:65534",
        pids_limit=64,
        mem_limit=memory,
        memswap_limit=memory,
        tmpfs={"/tmp": "rw,nosuid,nodev,size=64m,mode=1777"},
        working_dir="/tmp",
        volumes=volumes,
    )
    try:
        container.start()
        status = container.wait(timeout=300)
    finally:
        container.remove(force=True)
    code = int(status["StatusCode"])
    return Ran(code, (io_dir / "out").read_bytes(), (io_dir / "err").read_text(errors="replace"))
