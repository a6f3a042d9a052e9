"""Shared test fixtures: one real kubo daemon per session, and running async test code under trio.

Tests are plain `def` functions. Async code runs through `run(async_fn, *args)` (a thin `trio.run`
with a deadline), or through the `ipfs_call` fixture, which hands a fresh `KuboClient` connected to
the session's daemon to an async function and returns what it returns:

    def test_version(ipfs_call: IpfsCall) -> None:
        assert ipfs_call(lambda ipfs: ipfs.version()) == "0.42.0"

Nothing is faked: the daemon is the real kubo binary, on random local ports, with no bootstrap.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar, TypeVarTuple

import docker
import docker.errors
import pytest
import trio

from codsh import devstack, images, kubo_daemon
from codsh.config import kubo_binary
from codsh.executor.container import docker_client
from codsh.ipfs.client import KuboClient
from codsh.kubo_daemon import KuboProcess

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

#: No single test should need longer; a hung request fails the test instead of hanging the run.
DEFAULT_DEADLINE = 300.0


def run(
    async_fn: Callable[[*Ts], Awaitable[T]],
    *args: *Ts,
    deadline: float = DEFAULT_DEADLINE,
) -> T:
    """Run `async_fn(*args)` under trio and return its result; fail after `deadline` seconds."""

    async def bounded() -> T:
        with trio.fail_after(deadline):
            return await async_fn(*args)

    return trio.run(bounded)


class IpfsCall(Protocol):
    def __call__(
        self, fn: Callable[[KuboClient], Awaitable[T]], *, deadline: float = DEFAULT_DEADLINE
    ) -> T: ...


@pytest.fixture(scope="session", autouse=True)
def codsh_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """CODSH_HOME points at a session tmp dir, so no test touches the user's own data dir."""
    home = tmp_path_factory.mktemp("codsh-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CODSH_HOME", str(home))
        yield home


@pytest.fixture(scope="session")
def kubo(tmp_path_factory: pytest.TempPathFactory, codsh_home: Path) -> Iterator[KuboProcess]:
    """One real kubo daemon for the whole session, in its own tmp repo; stopped at the end."""
    repo = tmp_path_factory.mktemp("kubo") / "repo"
    process = kubo_daemon.start(repo)
    try:
        yield process
    finally:
        kubo_daemon.stop(repo)


@pytest.fixture
def ipfs_call(kubo: KuboProcess) -> IpfsCall:
    """Call `fn(client)` under trio with a fresh KuboClient on the session daemon."""

    def call(fn: Callable[[KuboClient], Awaitable[T]], *, deadline: float = DEFAULT_DEADLINE) -> T:
        async def with_client() -> T:
            async with KuboClient(kubo.api_url) as client:
                return await fn(client)

        return run(with_client, deadline=deadline)

    return call


def ipfs_cli(kubo: KuboProcess, *args: str, stdin: bytes | None = None) -> bytes:
    """Run the real `ipfs` CLI against the session daemon's repo; return its stdout."""
    result = subprocess.run(
        [kubo_binary(), *args],
        env={**os.environ, "IPFS_PATH": str(kubo.repo)},
        input=stdin,
        capture_output=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"ipfs {' '.join(args)} exited {result.returncode}: {result.stderr.decode()}"
        )
    return result.stdout


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    """The real local Docker engine (make setup starts one)."""
    return docker_client()


@pytest.fixture(scope="session")
def image_id(engine: docker.DockerClient) -> str:
    """The ID of codsh/busybox, built if missing or out of date."""
    return images.build(images.recipes()[0], engine)[0]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[devstack.NodeStatus]]:
    """A 3-node devstack of the test module's own: kubo daemons, a Dask scheduler, codsh nodes."""
    home = tmp_path_factory.mktemp("devstack-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CODSH_HOME", str(home))
        try:
            yield devstack.up(3)
        finally:
            devstack.down(purge=True)


# Fixtures of Python functions (the codsh/python image, its pip target), shared by tests/functions
# and tests/executor; imported last because tests.pyfunctions uses this module's helpers.
from tests.pyfunctions import python_image, target  # noqa: E402, F401


@pytest.fixture
def own_image(engine: docker.DockerClient, tmp_path: Path) -> Iterator[str]:
    """The ID of a small image only this test has (busybox and /marker), removed afterwards:
    what a node that lacks an image sees (tests of images by content)."""
    marker = uuid.uuid4().hex
    folder = tmp_path / "own-image"
    folder.mkdir()
    (folder / "bb").write_bytes(Path("/bin/busybox").read_bytes())
    (folder / "bb").chmod(0o755)
    (folder / "marker").write_text(f"{marker}\n")
    (folder / "Dockerfile").write_text(
        'FROM scratch\nCOPY bb /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        "COPY marker /marker\nUSER 65534:65534\n"
    )
    tag = f"codsh-test/content-{marker[:12]}:latest"
    image, _ = engine.images.build(path=str(folder), tag=tag, rm=True)
    yield str(image.id)
    for ref in (tag, str(image.id)):
        with contextlib.suppress(docker.errors.ImageNotFound):
            engine.images.remove(ref, force=True)
