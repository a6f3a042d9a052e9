"""Environments on a node: built once from the bundle's wheels with no network, reused from the cache
with no container, and a Pillow function giving the same PNG in the container as on the host."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import json
import os
import random
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest
import trio
from PIL import Image

from codsh.errors import InputError
from codsh.executor.environment import (
    MARKER,
    RUNNER_NAME,
    Environment,
    EnvironmentBuildError,
    ensure_environment,
    environment_key,
)
from codsh.functions.bundle import MANIFEST, make_bundle, pack_directory
from codsh.images.python import PipTarget
from codsh.ipfs.client import KuboClient
from codsh.kubo_daemon import KuboProcess
from tests.conftest import run
from tests.pyfunctions import add_bundle, build_env, run_function
from tests.wheels import make_wheel

PILLOW = importlib.metadata.version("Pillow")  # the host's: the outputs must match byte for byte
PROCESS = """
import io

from PIL import Image


def downscale(infile):
    image = Image.open(infile)  # stdin is a pipe: Pillow reads it whole when it cannot seek
    image = image.convert("L")
    image.thumbnail((256, 256))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
"""


@pytest.fixture(scope="module")
def pillow(
    kubo: KuboProcess,
    engine: docker.DockerClient,
    python_image: str,
    target: PipTarget,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Environment, Environment, Path]:
    """The Pillow environment built, then asked for again; and the script."""
    folder = tmp_path_factory.mktemp("pillow")
    (folder / "process.py").write_text(PROCESS)
    (folder / "requirements.txt").write_text(f"Pillow=={PILLOW}\n")
    bundle = make_bundle(
        folder / "bundle", folder / "process.py", "downscale", folder / "requirements.txt", target
    )
    cid = add_bundle(kubo, bundle)
    cache = folder / "cache"
    first = build_env(kubo, engine, python_image, cid, cache)
    second = build_env(kubo, engine, python_image, cid, cache)
    print(f"\nPillow env: built in {first.seconds:.2f} s, reused in {second.seconds * 1000:.1f} ms")
    return first, second, folder / "process.py"


def test_built_once_then_reused_without_a_container(
    pillow: tuple[Environment, Environment, Path], python_image: str
) -> None:
    first, second, _ = pillow
    assert first.built and not second.built
    assert first.path == second.path
    assert first.path.name == environment_key(python_image, _marker(first)["bundle"])
    marker = _marker(first)
    assert marker["image"] == python_image
    assert marker["seconds"] == pytest.approx(first.seconds, abs=0.5)
    assert f"Successfully installed Pillow-{PILLOW}" in marker["log"]
    assert second.log == marker["log"]  # the reuse reports the one build, did not make another
    assert sorted(p.name for p in first.path.iterdir()) == sorted(
        [MARKER, RUNNER_NAME, "fn", "site"]
    )
    assert sorted(p.name for p in (first.path / "fn").iterdir()) == [
        MANIFEST,
        "process.py",
        "requirements.txt",
    ]
    assert (first.path / "site" / "PIL" / "__init__.py").is_file()
    assert not [p for p in first.path.parent.iterdir() if p.name.startswith(".build-")]


def test_everything_is_readable_and_nothing_writable_by_others(
    pillow: tuple[Environment, Environment, Path],
) -> None:
    for folder, dirs, files in os.walk(pillow[0].path):
        for name in dirs:
            assert stat.S_IMODE(os.stat(Path(folder, name)).st_mode) == 0o755
        for name in files:
            mode = stat.S_IMODE(os.lstat(Path(folder, name)).st_mode)
            assert mode in (0o644, 0o755), (folder, name, oct(mode))


def test_the_pillow_function_runs_in_the_container_as_on_the_host(
    pillow: tuple[Environment, Environment, Path],
    engine: docker.DockerClient,
    python_image: str,
    tmp_path: Path,
) -> None:
    env, _, script = pillow
    png = _noise_png(1600, 1200)
    ran = run_function(engine, python_image, env, png, tmp_path / "io")
    assert ran.code == 0, ran.stderr
    output = Image.open(io.BytesIO(ran.stdout))
    assert (output.format, output.mode, output.size) == ("PNG", "L", (256, 192))
    assert len(ran.stdout) < len(png) // 10
    assert ran.stdout == _load(script, "downscale")(
        io.BytesIO(png)
    )  # the host's Pillow, same bytes


def test_missing_wheels_fail_the_build_with_pips_words(
    kubo: KuboProcess, engine: docker.DockerClient, python_image: str, tmp_path: Path
) -> None:
    """A hand-made bundle whose wheels/ lacks what requirements.txt names: pip, offline, says so."""
    bundle = tmp_path / "bundle"
    (bundle / "wheels").mkdir(parents=True)
    (bundle / "process.py").write_text("def f(infile):\n    return b''\n")
    (bundle / MANIFEST).write_text('[function]\nscript = "process.py"\nname = "f"\n')
    (bundle / "requirements.txt").write_text("codsh-tiny==1.0\n")
    with pytest.raises(EnvironmentBuildError) as caught:
        build_env(kubo, engine, python_image, add_bundle(kubo, bundle), tmp_path / "cache")
    assert "pip could not install the bundle's requirements" in caught.value.message
    assert "No matching distribution found for codsh-tiny==1.0" in caught.value.message
    assert "codsh fn pack" in caught.value.hint
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []


def test_a_build_past_its_timeout_is_stopped_and_removed(
    kubo: KuboProcess, engine: docker.DockerClient, python_image: str, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    make_wheel(bundle / "wheels", "codsh_tiny", "")
    (bundle / "process.py").write_text("def f(infile):\n    return b''\n")
    (bundle / MANIFEST).write_text('[function]\nscript = "process.py"\nname = "f"\n')
    (bundle / "requirements.txt").write_text("codsh-tiny==1.0\n")
    cid = add_bundle(kubo, bundle)

    async def go() -> Environment:
        async with KuboClient(kubo.api_url) as ipfs:
            return await ensure_environment(
                cid, python_image, ipfs, engine, tmp_path / "cache", timeout=0.001
            )

    with pytest.raises(EnvironmentBuildError, match="took longer than 0.001 s"):
        run(go)
    assert not engine.containers.list(all=True, filters={"label": "org.codsh.role=env-build"})
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []


def test_a_cid_that_is_no_bundle_is_refused(
    kubo: KuboProcess, engine: docker.DockerClient, python_image: str, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("not a bundle")
    with pytest.raises(InputError, match="has no codsh.toml: it is not a function bundle"):
        build_env(kubo, engine, python_image, add_bundle(kubo, tmp_path / "data"), tmp_path / "c")
    with pytest.raises(InputError, match="is a file, not a function bundle"):
        file_cid = add_bundle(kubo, tmp_path / "data" / "a.txt")
        build_env(kubo, engine, python_image, file_cid, tmp_path / "c")


def test_concurrent_requests_build_once(
    kubo: KuboProcess,
    engine: docker.DockerClient,
    python_image: str,
    target: PipTarget,
    tmp_path: Path,
) -> None:
    (tmp_path / "p.py").write_text("def f(infile):\n    return infile.read()\n")
    cid = add_bundle(kubo, make_bundle(tmp_path / "b", tmp_path / "p.py", "f", None, target))

    async def go() -> list[bool]:
        results: list[bool] = []

        async def one() -> None:
            async with KuboClient(kubo.api_url) as ipfs:
                env = await ensure_environment(cid, python_image, ipfs, engine, tmp_path / "c")
                results.append(env.built)

        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(one)
        return results

    assert sorted(run(go)) == [False, False, False, True]


def test_a_packed_folder_with_its_own_module_and_wheel(
    kubo: KuboProcess,
    engine: docker.DockerClient,
    python_image: str,
    target: PipTarget,
    tmp_path: Path,
) -> None:
    """`codsh fn pack`: a wheel that is on no index, already in wheels/, is enough (no download);
    the node installs it offline; the script imports it and a module of its own folder."""
    src = tmp_path / "fn"
    make_wheel(src / "wheels", "codsh_tiny", "def shout(b):\n    return b.upper()\n")
    (src / "lib").mkdir()
    (src / "lib" / "__init__.py").write_text("")
    (src / "lib" / "frame.py").write_text("def frame(b):\n    return b'[' + b + b']'\n")
    (src / "process.py").write_text(
        "import codsh_tiny\nfrom lib.frame import frame\n\n"
        "def run(infile):\n    return frame(codsh_tiny.shout(infile.read()))\n"
    )
    (src / "requirements.txt").write_text("codsh-tiny==1.0\n")
    (src / MANIFEST).write_text('[function]\nscript = "process.py"\nname = "run"\n')
    bundle = pack_directory(src, tmp_path / "bundle", target)
    env = build_env(kubo, engine, python_image, add_bundle(kubo, bundle), tmp_path / "cache")
    assert env.built and "Successfully installed codsh-tiny-1.0" in env.log
    ran = run_function(engine, python_image, env, b"lisbon", tmp_path / "io")
    assert (ran.code, ran.stdout) == (0, b"[LISBON]"), ran.stderr


def _marker(env: Environment) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((env.path / MARKER).read_text())
    return data


def _noise_png(width: int, height: int) -> bytes:
    """A deterministic RGB image that does not compress away: a gradient plus noise."""
    rng = random.Random(5)
    noise = rng.randbytes(width * height * 3)
    image = Image.frombytes("RGB", (width, height), noise)
    gradient = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    out = io.BytesIO()
    Image.blend(image, gradient, 0.5).save(out, format="PNG")
    return out.getvalue()


def _load(script: Path, name: str) -> Callable[[Any], bytes]:
    spec = importlib.util.spec_from_file_location("process_on_host", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn: Callable[[Any], bytes] = getattr(module, name)
    return fn
