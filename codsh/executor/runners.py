"""Which executor runs a job's shards: containers for shell commands and Python functions, wasmtime
for WASI modules. One node-side entry point, so the one-node driver and cluster nodes agree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import docker

from codsh.core.model import FileResult, Setup, Shard
from codsh.core.spec import PYTHON, WASM, JobSpec
from codsh.errors import InputError
from codsh.executor.shard import Progress, ShardRunner
from codsh.executor.warm import WarmPool
from codsh.ipfs.client import KuboClient

MAX_MODULE = 256 * 1024**2  # bytes of a .wasm module read into memory


class Runner(Protocol):
    async def run(self, shard: Shard, progress: Progress = ...) -> list[FileResult]: ...


async def shard_runner(
    spec: JobSpec,
    ipfs: KuboClient,
    docker_client: docker.DockerClient,
    scratch_root: Path | None = None,
    labels: Mapping[str, str] | None = None,
    check_locality: bool = True,
    pool: WarmPool | None = None,
) -> tuple[Runner, Setup | None]:
    """The runner for `spec` on this node; a WASM module is fetched and compiled here (once per
    job on a node, or per shard task on a cluster), a Python environment built or reused, an
    image named by content loaded when this engine lacks it (its Setup says so). A long-lived
    node passes its `pool` of started containers (warm.py)."""
    image_setup = await _ensure_image(spec, ipfs, docker_client)
    if spec.kind == WASM:
        from codsh.core.determinism import job_seed
        from codsh.executor.wasm import WasmLimits, WasmShardRunner

        module = await read_program(ipfs, spec.program, MAX_MODULE)
        limits = WasmLimits.from_limits(spec.limits, fuel=spec.limits.fuel)
        seed = job_seed(spec)  # with each file's CID, its random stream (replicas agree)
        wasm = WasmShardRunner(
            module, ipfs, limits, scratch_root, ok_exit=spec.ok_exit, job_seed=seed
        )
        return wasm, None
    if spec.kind == PYTHON:
        from codsh.executor.environment import (
            ENV_MOUNT,
            RUNNER_COMMAND,
            SERVER_COMMAND,
            ensure_environment,
        )

        env = await ensure_environment(spec.program, spec.image_digest, ipfs, docker_client)
        runner = ShardRunner(
            replace(spec, command=RUNNER_COMMAND),
            ipfs,
            docker_client,
            scratch_root,
            labels,
            mounts={str(env.path): ENV_MOUNT},
            check_locality=check_locality,
            server=SERVER_COMMAND,  # the module imported once per container, a fork per file
            pool=pool,
        )
        setup = Setup(env.path.name, env.built, round(env.seconds, 3))
        if image_setup is not None:  # the image too: loaded from IPFS here, or already there
            image = image_setup.environment.removeprefix("image ")
            setup = replace(
                setup,
                image=image,
                image_loaded=image_setup.built,
                image_seconds=image_setup.seconds,
            )
        return runner, setup
    runner = ShardRunner(
        spec, ipfs, docker_client, scratch_root, labels, check_locality=check_locality, pool=pool
    )
    return runner, image_setup


async def _ensure_image(
    spec: JobSpec, ipfs: KuboClient, docker_client: docker.DockerClient
) -> Setup | None:
    if not spec.image_cid or spec.kind == WASM:
        return None
    from codsh.images.content import ensure

    seconds = await ensure(docker_client, ipfs, spec.image_cid, spec.image_digest)
    loaded = seconds is not None
    return Setup(f"image {spec.image_cid}", loaded, round(seconds or 0.0, 3))


async def read_program(ipfs: KuboClient, cid: str, limit: int) -> bytes:
    """The bytes of a program CID (a module), refusing one larger than `limit`."""
    data = bytearray()
    async for chunk in ipfs.cat(cid):
        data += chunk
        if len(data) > limit:
            raise InputError(
                f"the program {cid} is larger than {limit // 1024**2} MiB",
                "is it the right CID? a .wasm module is expected",
            )
    return bytes(data)
