"""codsh/python against the real Docker engine: built once, skipped when up to date, and usable.

The build itself (debootstrap, ~1.5 min) is `make setup`'s; the `python_image` fixture only builds
when the image is missing or out of date. Everything runs with codsh's hardening: no network, a
read-only root, no capabilities, user nobody.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import docker
import pytest

from codsh import images
from codsh.core.model import FileResult, InputFile, Shard
from codsh.core.spec import JobSpec
from codsh.executor.shard import ShardRunner
from codsh.images import python
from codsh.ipfs.client import KuboClient
from codsh.ipfs.multipart import AddEntry
from codsh.kubo_daemon import KuboProcess
from tests.conftest import run
from tests.wheels import make_wheel

#: Run inside a job: what the container lets it do, as JSON.
PROBE = r"""
import json, os, socket, sys
def refused(action):
    try:
        action()
    except OSError as exc:
        return type(exc).__name__
    return "allowed"
caps = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0]
print(json.dumps({
    "version": list(sys.version_info[:2]),
    "uid": os.getuid(),
    "caps": caps,
    "write_root": refused(lambda: open("/codsh-probe", "w")),
    "network": refused(lambda: socket.create_connection(("1.1.1.1", 53), timeout=2)),
    "interfaces": sorted(name for _, name in socket.if_nameindex()),
    "modules": [m.__name__ for m in map(__import__, ["ssl", "zlib", "json", "sqlite3"])],
}))
"""


@pytest.fixture(scope="session")
def python_image(engine: docker.DockerClient) -> str:
    """The ID of codsh/python (normally built by `make setup`; built here if missing)."""
    return images.build(python.RECIPE, engine)[0]


def test_image_is_labelled_with_recipe_and_wheel_tags(
    engine: docker.DockerClient, python_image: str
) -> None:
    image = engine.images.get(python.TAG)
    assert image.id == python_image
    assert image.labels[images.LABEL] == python.RECIPE.context_hash()
    target = python.pip_target(engine)
    assert (target.python, target.abi) == ("3.11", "cp311")
    arch = platform.machine()
    assert f"manylinux2014_{arch}" in target.platforms
    assert target.platforms[0].startswith(
        "manylinux_2_36_"
    )  # bookworm's glibc, most specific first
    assert image.attrs["Config"]["User"] == "65534:65534"
    assert image.attrs["Size"] < 250e6  # trimmed: no apt lists, caches, docs, man pages, locales


def test_second_build_is_skipped(engine: docker.DockerClient, python_image: str) -> None:
    started = time.monotonic()
    assert images.build(python.RECIPE, engine) == (python_image, False)
    assert time.monotonic() - started < 5


def test_a_job_runs_python_under_the_executors_hardening(
    kubo: KuboProcess, engine: docker.DockerClient, python_image: str, tmp_path: Path
) -> None:
    """The real shard executor (its `sh` loop under dash) runs python3 in the image, per file."""
    command = f"python3 -c '{PROBE}' && python3 -c 'import sys; print(sys.stdin.read().upper())'"
    (result,) = run_shard(kubo, engine, python_image, command, b"lisbon", tmp_path)
    assert result.ok, (result.error, result.stderr)
    probe, upper = cat(kubo, result.output_cid).decode().splitlines()
    assert upper == "LISBON"
    seen = json.loads(probe)
    assert seen["version"] == [3, 11]
    assert seen["uid"] == 65534
    assert int(seen["caps"], 16) == 0
    assert seen["write_root"] == "OSError"  # EROFS: a read-only root
    assert seen["network"] != "allowed"
    assert seen["interfaces"] == ["lo"]
    assert seen["modules"] == ["ssl", "zlib", "json", "sqlite3"]


def test_pip_installs_a_local_wheel_offline(
    engine: docker.DockerClient, python_image: str, tmp_path: Path
) -> None:
    """As a node will: install from a wheelhouse into a target dir, then import it read-only."""
    wheelhouse, env = tmp_path / "wheels", tmp_path / "env"
    wheelhouse.mkdir(mode=0o755)
    env.mkdir()
    env.chmod(0o777)  # written by nobody in the container
    make_wheel(wheelhouse, "codsh_tiny", "def hello():\n    return 'hello from a wheel'\n")
    install = "python3 -m pip install --no-index --find-links /wheels --target /env codsh_tiny"
    logs = run_container(
        engine,
        python_image,
        install,
        {str(wheelhouse): {"bind": "/wheels", "mode": "ro"}, str(env): {"bind": "/env"}},
    )
    assert "Successfully installed codsh_tiny-1.0" in logs
    use = "PYTHONPATH=/env python3 -c 'import codsh_tiny; print(codsh_tiny.hello())'"
    logs = run_container(engine, python_image, use, {str(env): {"bind": "/env", "mode": "ro"}})
    assert logs.strip() == "hello from a wheel"


def test_pip_target_arguments_are_accepted_by_pip(
    engine: docker.DockerClient, python_image: str, tmp_path: Path
) -> None:
    """The labels give `pip download` arguments that select wheels for the image (offline here)."""
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    make_wheel(wheelhouse, "codsh_tiny", "")
    args = python.pip_target(engine).download_args()
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-index", "--find-links", str(wheelhouse)]
        + ["--dest", str(tmp_path / "got"), *args, "codsh_tiny"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "got").iterdir()] == ["codsh_tiny-1.0-py3-none-any.whl"]


def run_shard(
    kubo: KuboProcess,
    engine: docker.DockerClient,
    image_id: str,
    command: str,
    content: bytes,
    scratch: Path,
) -> list[FileResult]:
    async def go() -> list[FileResult]:
        async with KuboClient(kubo.api_url) as ipfs:
            (added,) = await ipfs.add([AddEntry("f0", _bytes(content))])
            spec = JobSpec(command, "unused", image_digest=image_id)
            shard = Shard(0, (InputFile("f0", added.cid, len(content)),))
            return await ShardRunner(spec, ipfs, engine, scratch).run(shard)

    return run(go)


async def _bytes(data: bytes) -> AsyncIterator[bytes]:
    yield data


def cat(kubo: KuboProcess, cid: str | None) -> bytes:
    assert cid is not None

    async def go() -> bytes:
        async with KuboClient(kubo.api_url) as ipfs:
            return b"".join([chunk async for chunk in ipfs.cat(cid)])

    return run(go)


def run_container(
    engine: docker.DockerClient, image_id: str, script: str, volumes: dict[str, dict[str, str]]
) -> str:
    """Run `script` under sh with the executor's settings; its output, or a failure with it."""
    container = engine.containers.create(
        image_id,
        ["sh", "-c", script],
        network_mode="none",  # the executor's settings (codsh/executor/container.py)
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        user="65534:65534",
        tmpfs={"/tmp": "rw,nosuid,nodev,size=64m,mode=1777"},
        working_dir="/tmp",
        volumes=volumes,
    )
    try:
        container.start()
        status = container.wait(timeout=120)
        logs = container.logs(stdout=True, stderr=True).decode()
        assert status["StatusCode"] == 0, logs
        return str(logs)
    finally:
        container.remove(force=True)
