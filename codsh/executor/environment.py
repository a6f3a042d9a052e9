"""Node side: a function bundle CID becomes an environment folder, built once, offline, and cached.

The environment of (image, bundle) is `<cache>/<key>/`, mounted read-only at /codsh-env in job
containers:  site/ (the bundle's wheels, installed by the image's own pip in a container with no
network), fn/ (the bundle's scripts and codsh.toml), _codsh_runner.py, codsh-env.json (the
completion marker). Everything in it is content-addressed, so a folder with a marker is never
rebuilt: the second job with the same requirements starts with no build and no container.
Builds are serialised per key (a trio.Lock within a run, a file lock across threads and processes:
devstack nodes share one data dir), and placed with an atomic rename.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions
import trio
import trio.lowlevel

from codsh import config
from codsh.core.bundle import MANIFEST, REQUIREMENTS, WHEELS, parse_manifest, parse_requirements
from codsh.core.spec import Limits
from codsh.errors import InfrastructureError, InputError
from codsh.executor.container import DOCKER_HINT, ROLE_LABEL, force_remove, hardened
from codsh.ipfs.client import KuboClient
from codsh.ipfs.sinks import safe_join, write_file

ENV_MOUNT = "/codsh-env"
RUNNER_NAME = "_codsh_runner.py"
RUNNER_COMMAND = f"python3 {ENV_MOUNT}/{RUNNER_NAME}"
SERVER_COMMAND = f"exec {RUNNER_COMMAND} --serve"  # the fork server (runner/server.go)
MARKER = "codsh-env.json"
RUNNER_SOURCE = Path(__file__).with_name("python_runner.py")
BUILD_TIMEOUT = 600.0  # seconds for pip to install the wheels
BUILD_LIMITS = Limits(memory=2 * 1024**3, pids=256, cpus=2.0)  # pip's needs, not a job's
LOG_TAIL = 4000  # characters of pip's output kept in the marker and in errors

_LOCKS: trio.lowlevel.RunVar[dict[str, trio.Lock]] = trio.lowlevel.RunVar("codsh_env_locks")


@dataclass(frozen=True)
class Environment:
    path: Path  # mount read-only at ENV_MOUNT
    built: bool  # False: reused from the cache, no container ran
    seconds: float  # spent by this call
    log: str  # the tail of pip's output (from the marker when reused)


class EnvironmentBuildError(InputError):
    """The bundle could not be installed: its wheels do not fit the image, or pip failed."""


def default_cache_root() -> Path:
    return config.data_dir() / "envs"


def environment_key(image_id: str, bundle_cid: str) -> str:
    """sha256 of the image, the bundle and the runner's own source (a new runner, a new env)."""
    runner = hashlib.sha256(RUNNER_SOURCE.read_bytes()).hexdigest()
    return hashlib.sha256(f"{image_id}\0{bundle_cid}\0{runner}".encode()).hexdigest()


def env_volumes(env: Environment) -> dict[str, dict[str, str]]:
    """docker-py `volumes=` entry for a job container."""
    return {str(env.path): {"bind": ENV_MOUNT, "mode": "ro"}}


async def ensure_environment(
    bundle_cid: str,
    image_id: str,
    ipfs: KuboClient,
    docker_client: docker.DockerClient,
    cache_root: Path | None = None,
    timeout: float = BUILD_TIMEOUT,
) -> Environment:
    """The environment of `bundle_cid` on `image_id`, from the cache or built now."""
    started = time.monotonic()
    root = cache_root or default_cache_root()
    key = environment_key(image_id, bundle_cid)
    final = root / key
    await trio.to_thread.run_sync(lambda: root.mkdir(parents=True, exist_ok=True))
    async with _run_lock(key), _file_lock(root / f".{key}.lock"):
        marker = await trio.to_thread.run_sync(read_marker, final)
        if marker is not None:
            return Environment(final, False, time.monotonic() - started, str(marker.get("log", "")))
        work = Path(
            await trio.to_thread.run_sync(tempfile.mkdtemp, "", f".build-{key[:12]}-", root)
        )
        try:
            bundle, env = work / "bundle", work / "env"
            needs_pip = await _fetch_bundle(ipfs, bundle_cid, bundle)
            await trio.to_thread.run_sync(_prepare, bundle, env)
            log = await _install(docker_client, image_id, bundle, env, timeout) if needs_pip else ""
            record: dict[str, Any] = {"image": image_id, "bundle": bundle_cid}
            record |= {"log": log[-LOG_TAIL:], "seconds": round(time.monotonic() - started, 3)}
            await trio.to_thread.run_sync(_finish, bundle, env, record)
            await trio.to_thread.run_sync(_place, env, final, work)
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(lambda: shutil.rmtree(work, ignore_errors=True))
    return Environment(final, True, time.monotonic() - started, log[-LOG_TAIL:])


def read_marker(env_path: Path) -> dict[str, Any] | None:
    """The completion record of an environment folder, or None when it is not complete."""
    try:
        data = json.loads((env_path / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@contextlib.asynccontextmanager
async def _run_lock(key: str) -> AsyncIterator[None]:
    locks = _LOCKS.get({})
    _LOCKS.set(locks)
    async with locks.setdefault(key, trio.Lock()):
        yield


@contextlib.asynccontextmanager
async def _file_lock(path: Path) -> AsyncIterator[None]:
    """flock, polled so a waiting build stays cancellable (other threads and processes)."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await trio.sleep(0.1)
        yield
    finally:
        os.close(fd)  # releases the lock


async def _fetch_bundle(ipfs: KuboClient, cid: str, dest: Path) -> bool:
    """Write the bundle tree to `dest`, check it; whether it has requirements to install."""
    dest.mkdir()
    async for entry in ipfs.walk(cid):
        if entry.path == "":
            raise InputError(
                f"{cid} is a file, not a function bundle",
                "make a bundle with `codsh fn pack DIR` (a folder with codsh.toml)",
            )
        target = safe_join(dest, entry.path)
        if entry.is_dir:
            target.mkdir(parents=True, exist_ok=True)
        else:
            await write_file(ipfs, entry.cid, target)
    if not (dest / MANIFEST).is_file():
        raise InputError(
            f"{cid} has no {MANIFEST}: it is not a function bundle", "use `codsh fn pack DIR`"
        )
    manifest = parse_manifest((dest / MANIFEST).read_text())
    if not dest.joinpath(*manifest.script.split("/")).is_file():
        raise InputError(f"the bundle {cid} lacks its script {manifest.script!r}")
    requirements = dest / REQUIREMENTS
    return requirements.is_file() and bool(parse_requirements(requirements.read_text()))


def _build_user() -> str:
    """nobody when codsh runs as root (root fixes permissions afterwards); else codsh's own uid,
    so that the files pip writes stay ours to chmod and delete. Never root in the container."""
    uid = os.getuid()
    return "65534:65534" if uid == 0 else f"{uid}:{os.getgid()}"


def _prepare(bundle: Path, env: Path) -> None:
    _open_up(bundle)
    env.mkdir()
    (env / ".tmp").mkdir()
    for path in (env, env / ".tmp"):
        path.chmod(0o777)  # written by the build container's user


async def _install(
    client: docker.DockerClient, image_id: str, bundle: Path, env: Path, timeout: float
) -> str:
    """pip install the bundle's wheels into env/site in a container: no network, no index."""
    container = await trio.to_thread.run_sync(_start_build, client, image_id, bundle, env)
    try:
        status: dict[str, Any] | None = None
        with trio.move_on_after(timeout):
            status = await trio.to_thread.run_sync(container.wait, abandon_on_cancel=True)
        logs, oom = await trio.to_thread.run_sync(_outcome, container)
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(force_remove, container)
    tail = logs.strip()[-LOG_TAIL:]
    if status is None:
        raise EnvironmentBuildError(
            f"installing the bundle's wheels took longer than {timeout:g} s:\n{tail[-1500:]}",
            "install fewer or smaller packages",
        )
    if int(status.get("StatusCode", -1)) != 0:
        why = " (killed: out of memory)" if oom else ""
        raise EnvironmentBuildError(
            f"pip could not install the bundle's requirements{why}:\n{tail[-1500:]}",
            "make the bundle for this image (`codsh fn pack` reads its Python version and "
            "platform tags), so that wheels/ holds a wheel for every requirement",
        )
    return logs


def _start_build(client: docker.DockerClient, image_id: str, bundle: Path, env: Path) -> Any:
    command = ["python3", "-m", "pip", "install", "--no-index", "--find-links", "/bundle/" + WHEELS]
    command += ["--target", "/env/site", "--no-warn-script-location", "--progress-bar", "off"]
    command += ["--disable-pip-version-check", "-r", "/bundle/" + REQUIREMENTS]
    try:
        volumes = {str(bundle): {"bind": "/bundle", "mode": "ro"}, str(env): {"bind": "/env"}}
        environment = {"TMPDIR": "/env/.tmp", "HOME": "/tmp", "PIP_NO_CACHE_DIR": "1"}
        labels = {ROLE_LABEL: "env-build"}
        options = hardened(BUILD_LIMITS, _build_user(), volumes, labels, environment)
        container = client.containers.create(image_id, command, **options)
    except docker.errors.ImageNotFound as exc:
        raise InfrastructureError(f"image {image_id} is not on this node: {exc}") from exc
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise InfrastructureError(
            f"cannot create the environment build container: {exc}", DOCKER_HINT
        ) from exc
    try:
        container.start()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        force_remove(container)
        raise InfrastructureError(
            f"cannot start the environment build container: {exc}", DOCKER_HINT
        ) from exc
    return container


def _outcome(container: Any) -> tuple[str, bool]:
    """pip's output, and whether the kernel killed it for memory."""
    logs = bytes(container.logs(stdout=True, stderr=True)).decode(errors="replace")
    with contextlib.suppress(docker.errors.DockerException):
        container.reload()
        return logs, bool(container.attrs.get("State", {}).get("OOMKilled"))
    return logs, False


def _finish(bundle: Path, env: Path, record: dict[str, Any]) -> None:
    """Scripts and runner in place, permissions for nobody, the marker last."""
    shutil.rmtree(env / ".tmp", ignore_errors=True)
    (env / "site").mkdir(exist_ok=True)
    shutil.copytree(
        bundle, env / "fn", ignore=lambda d, names: [WHEELS] if Path(d) == bundle else []
    )
    shutil.copyfile(RUNNER_SOURCE, env / RUNNER_NAME)
    _open_up(env)
    (env / MARKER).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    (env / MARKER).chmod(0o644)


def _open_up(root: Path) -> None:
    """Directories 755, files 644 (755 when executable): readable by the job's nobody, not writable."""
    root.chmod(0o755)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            path = Path(folder, name)
            if not path.is_symlink():
                path.chmod(0o755)
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                path.chmod(0o755 if path.stat().st_mode & 0o111 else 0o644)


def _place(env: Path, final: Path, work: Path) -> None:
    """Rename into the cache; if another builder got there first, keep theirs (same content)."""
    try:
        env.rename(final)
    except OSError:
        if read_marker(final) is not None:
            return  # ours stays in `work`, removed with it
        final.rename(work / "incomplete")  # a folder without a marker is not an environment
        env.rename(final)
