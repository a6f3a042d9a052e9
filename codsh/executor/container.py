"""The hardened container that serves one shard: docker-py calls, run in threads so trio stays free.

The container sees only the shard's two FIFOs (read-only bind mount at /io: TAG.in and TAG.out,
executor/streams.py), a small tmpfs at /tmp and codsh's static runner (runner/, mounted read-only
at /.codsh/runner). The runner is PID 1: it runs the user's command once per file as
65534:65534, its stdin, stdout and stderr pipes of the runner and nothing else inherited, makes
the container clean again before the next file (no process, no file in /tmp, /dev/shm or
/dev/mqueue, no IPC object left), and frames each file's output, stderr and status into TAG.out.
The FIFOs are the node user's, mode 0600: the command cannot open them, nor reach the runner's
descriptors through /proc (another user). The container has no network, a read-only root, no
new privileges, pids/memory/cpu limits, a capped log, and of the capabilities only CAP_SETUID
and CAP_SETGID, which the runner gives up for every command it starts.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions
import trio

from codsh import config
from codsh.core.spec import Limits
from codsh.errors import InfrastructureError, ServiceUnavailable

RUNNER_PATH = "/.codsh/runner"
#: The runner starts as the container's root with these only, to switch to the command's user.
RUNNER_CAPS = ("SETUID", "SETGID")
RUNNER_USER = "0:0"
LOG_CAP = "1m"  # the container log on the host: the runner's own messages only
ROLE_LABEL = "org.codsh.role"
NODE_LABEL = "org.codsh.node"  # which codsh node started it, to clean up after a crash
JOB_LABEL = "org.codsh.job"  # which job it runs (one node and cluster)
CLUSTER_LABEL = "org.codsh.cluster"  # which cluster's node started it
JOB_NAME = "codsh-job-"  # a warm container's name once a job took it (its labels cannot say)
DOCKER_HINT = (
    "start the Docker engine (`make setup` starts dockerd when none answers), or set DOCKER_HOST"
)
ENGINE_HINT = "the Docker engine refused it: see `docker info` and the engine's log (disk, limits)"


def docker_client() -> docker.DockerClient:
    """A client to the local engine, or a clear error naming what to do when none answers."""
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise ServiceUnavailable(f"Docker does not answer ({exc})", DOCKER_HINT) from exc
    return client


@dataclass(frozen=True)
class ExitInfo:
    code: int
    oom_killed: bool
    logs: str

    def describe(self) -> str:
        reason = " (killed: out of memory)" if self.oom_killed else ""
        tail = f": {self.logs.strip()[-300:]}" if self.logs.strip() else ""
        return f"the container exited with code {self.code}{reason}{tail}"


class ShardContainer:
    """One container running the per-file loop for files [start, end) of a shard."""

    def __init__(
        self,
        client: docker.DockerClient,
        image_id: str,
        limits: Limits,
        scratch: Path,
        labels: Mapping[str, str] | None = None,
        mounts: Mapping[str, str] | None = None,
        cgroup_parent: str | None = None,
    ):
        self._client = client
        self._cgroup_parent = cgroup_parent
        self._image_id = image_id
        self._limits = limits
        self._labels = {**(labels or {}), ROLE_LABEL: "shard"}
        self._volumes = {
            str(scratch): {"bind": "/io", "mode": "ro"},
            str(config.runner_binary()): {"bind": RUNNER_PATH, "mode": "ro"},
        }
        for host, inside in (mounts or {}).items():  # e.g. a Python function's environment
            self._volumes[host] = {"bind": inside, "mode": "ro"}
        self._container: Any = None

    async def start(self, tag: str, idle: int = 0) -> None:
        """Start the runner on the streams /io/`tag`.in and .out (executor/streams.py); it waits
        there for its job (the command, limits and fork server: ContainerStreams.send_job), and
        exits if none comes within `idle` seconds (0: it waits as long as the host is there)."""
        await trio.to_thread.run_sync(self.start_sync, tag, idle)

    def start_sync(self, tag: str, idle: int = 0) -> None:
        runner = [RUNNER_PATH, "stream", tag, str(idle)]
        try:
            self._container = self._client.containers.create(
                self._image_id,
                runner,
                **hardened(
                    self._limits,
                    RUNNER_USER,
                    self._volumes,
                    self._labels,
                    cap_add=runner_caps(),
                    cgroup_parent=self._cgroup_parent,
                ),
            )
        except docker.errors.ImageNotFound as exc:
            raise InfrastructureError(f"image {self._image_id} is gone: {exc}") from exc
        except docker.errors.APIError as exc:  # the engine refused; the image is not the cause
            raise InfrastructureError(
                f"cannot create the job container: {exc.explanation or exc}", ENGINE_HINT
            ) from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise InfrastructureError(
                f"cannot create the job container: {exc}", DOCKER_HINT
            ) from exc
        try:
            self._container.start()  # a failed start leaves it created: remove() cleans up
        except docker.errors.APIError as exc:  # e.g. exec: "sh": executable file not found
            raise InfrastructureError(
                f"cannot start the job container: {exc.explanation or exc}", ENGINE_HINT
            ) from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise InfrastructureError(
                f"cannot start the job container: {exc}", DOCKER_HINT
            ) from exc

    async def wait(self) -> ExitInfo:
        """Block until the container exits (abandoned, not blocked on, when cancelled)."""
        return await trio.to_thread.run_sync(self._wait_sync, abandon_on_cancel=True)

    def _wait_sync(self) -> ExitInfo:
        status = self._container.wait()
        self._container.reload()
        logs = self._container.logs(stdout=True, stderr=True, tail=20).decode(errors="replace")
        state = self._container.attrs.get("State", {})
        return ExitInfo(int(status.get("StatusCode", -1)), bool(state.get("OOMKilled")), logs)

    async def remove(self) -> None:
        """Kill (if running) and remove; safe to call twice, never raises on a gone container."""
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(self.remove_sync)

    def remove_sync(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            force_remove(container)

    def running(self) -> bool:
        """Whether it still runs (blocking; ~3 ms): a warm one may have died while it waited."""
        try:
            self._container.reload()
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            return False
        return bool(self._container.status == "running")

    def claim(self, job: str) -> None:
        """Name this started container for job `job` (blocking): a warm one was made before
        its job was known, and Docker cannot add a label later; job_containers finds either."""
        try:
            self._container.rename(f"{JOB_NAME}{_safe(job)}-{secrets.token_hex(4)}")
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise InfrastructureError(f"cannot name the job container: {exc}", ENGINE_HINT) from exc


def _safe(job: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]", "_", job)


def job_containers(
    client: docker.DockerClient, job: str, labels: tuple[str, ...] = (), every: bool = True
) -> list[dict[str, Any]]:
    """The shard containers of job `job` (with `labels` too; `every`: running or not, else
    running): labelled with it, or warm ones named for it when it took them (claim)."""
    base = [f"{ROLE_LABEL}=shard", *labels]
    named = {"label": base, "name": f"^/{re.escape(JOB_NAME + _safe(job))}-[0-9a-f]+$"}
    found: dict[str, dict[str, Any]] = {}
    for filters in ({"label": [*base, f"{JOB_LABEL}={job}"]}, named):
        for entry in client.api.containers(all=every, filters=filters):
            found[entry["Id"]] = entry
    return list(found.values())


def remove_job(client: docker.DockerClient, job: str, labels: tuple[str, ...] = ()) -> int:
    """Remove the shard containers of job `job` (with `labels` too), e.g. a killed run's."""
    leftovers = job_containers(client, job, labels)
    for entry in leftovers:  # another process may remove one between listing and removing
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            client.api.remove_container(entry["Id"], force=True)
    return len(leftovers)


def hardened(
    limits: Limits,
    user: str,
    volumes: Mapping[str, Mapping[str, str]],
    labels: Mapping[str, str],
    environment: Mapping[str, str] | None = None,
    cap_add: tuple[str, ...] = (),
    cgroup_parent: str | None = None,
) -> dict[str, Any]:
    """docker-py `create` options of every container codsh starts for user code (shards and
    environment builds alike): no network, read-only root, no capabilities but `cap_add`, no new
    privileges, pids/memory/cpu limits, a fixed hostname (replicas must agree), a log capped at
    LOG_CAP (nothing a command writes can fill the host's disk), and only a small tmpfs at /tmp to
    write to. `user` runs the container's PID 1: non-root, or the shard runner (see above).
    `cgroup_parent`: the shard's own cgroup (executor/cgroup.py), whose counters meter it."""
    options: dict[str, Any] = {"cgroup_parent": cgroup_parent} if cgroup_parent else {}
    return options | {
        "network_mode": "none",
        "read_only": True,
        "cap_drop": ["ALL"],
        "cap_add": list(cap_add),
        "hostname": "codsh",
        "log_config": {"type": "json-file", "config": {"max-size": LOG_CAP, "max-file": "1"}},
        "security_opt": ["no-new-privileges"],
        "user": user,
        "pids_limit": limits.pids,
        "mem_limit": limits.memory,
        "memswap_limit": limits.memory,
        "nano_cpus": int(limits.cpus * 1e9),
        "tmpfs": {"/tmp": "rw,nosuid,nodev,size=64m,mode=1777"},
        "volumes": dict(volumes),
        "environment": dict(environment or {}),
        "working_dir": "/tmp",
        "labels": dict(labels),
    }


def runner_caps() -> tuple[str, ...]:
    """The runner's capabilities. The FIFOs are the node user's (0600): a node that is not root
    needs the runner to pass their permission check too (the command never gets it)."""
    return RUNNER_CAPS if os.geteuid() == 0 else (*RUNNER_CAPS, "DAC_OVERRIDE")


def force_remove(container: Any) -> None:
    """Kill and remove `container`; never raises when it is already gone."""
    with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
        container.remove(force=True)


def remove_leftovers(client: docker.DockerClient, label: str, value: str) -> int:
    """Remove the shard containers labelled `label=value` that a killed process left behind."""
    filters: dict[str, str | list[str] | bool] = {
        "label": [f"{ROLE_LABEL}=shard", f"{label}={value}"]
    }
    leftovers = client.api.containers(all=True, filters=filters)  # ids only: another node may
    for entry in leftovers:  # remove one between the listing and its inspection
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            client.api.remove_container(entry["Id"], force=True)
    return len(leftovers)
