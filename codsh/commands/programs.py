"""What a job runs per file, from `-e CMD`, `-f SCRIPT [-r REQS] [--fn NAME]` or `-x CID`.

A Python function and its requirements become a bundle CID (content-addressed: the job spec names
the bundle, so the environment is pinned by content), and `-x` names one directly, or a WASI module.
Everything that can be checked here is, before any node is asked to do anything.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import docker

from codsh.commands.run_options import one_of
from codsh.commands.settings import Settings, run_async
from codsh.core.spec import (
    DEFAULT_IMAGE,
    PYTHON,
    PYTHON_IMAGE,
    SHELL,
    WASM,
    Program,
    check_command,
    check_input,
)
from codsh.errors import InputError
from codsh.ipfs.client import AddOptions, KuboClient

WASM_MAGIC = b"\0asm"


def choose(
    settings: Settings,
    engine: docker.DockerClient,
    *,
    command: str | None,
    script: Path | None,
    function: str,
    requirements: Path | None,
    program: str | None,
    image: str,
) -> Program:
    """Exactly one of -e, -f and -x, checked and, for -f, packed and added to IPFS."""
    one_of(command, script, program, requirements)
    if command is not None:
        check_command(command)  # an empty one is an error of its own
        return Program(SHELL, command, image=image)
    python_image = PYTHON_IMAGE if image == DEFAULT_IMAGE else image
    if script:
        from codsh.functions.bundle import check_script

        check_script(script, function)
        cid = run_async(pack_script, settings, engine, script, function, requirements, python_image)
        return Program(PYTHON, f"python {script.name}:{function}", cid, python_image)
    assert program is not None
    return run_async(inspect_program, settings, check_input(program), python_image)


async def pack_script(
    settings: Settings,
    engine: docker.DockerClient,
    script: Path,
    function: str,
    requirements: Path | None,
    image: str,
) -> str:
    """Bundle `script` with the wheels of `requirements` for the nodes' interpreter; its CID."""
    from codsh.functions.bundle import make_bundle
    from codsh.images.python import pip_target

    target = pip_target(engine, image)
    with tempfile.TemporaryDirectory(prefix="codsh-bundle-") as tmp:
        folder = make_bundle(Path(tmp) / "bundle", script, function, requirements, target)
        async with settings.kubo() as ipfs:
            return await add_folder(ipfs, folder)


async def add_folder(ipfs: KuboClient, folder: Path) -> str:
    added = await ipfs.add_paths([folder], AddOptions())
    return next(a.cid for a in added if a.name == folder.name)


async def inspect_program(settings: Settings, cid: str, python_image: str) -> Program:
    """-x CID: a function bundle (a folder with codsh.toml) or a .wasm module (a file)."""
    from codsh.inputs import stat_input

    async with settings.kubo() as ipfs:
        root = await stat_input(ipfs, cid)
        if root.is_dir:
            from codsh.core.bundle import MANIFEST, parse_manifest

            if MANIFEST not in {entry.path for entry in await ipfs.ls(cid)}:
                raise InputError(
                    f"{cid} is a folder without {MANIFEST}: not a function bundle",
                    "make one with `codsh fn pack DIR` (DIR holds codsh.toml and the script)",
                )
            text = b"".join([chunk async for chunk in ipfs.cat(f"{cid}/{MANIFEST}")])
            manifest = parse_manifest(text.decode("utf-8", errors="replace"))
            return Program(PYTHON, f"python {manifest.script}:{manifest.name}", cid, python_image)
        from codsh.executor.runners import MAX_MODULE, read_program
        from codsh.executor.wasm import compile_module, shared_engine

        module = await read_program(ipfs, cid, MAX_MODULE)
        if not module.startswith(WASM_MAGIC):
            raise InputError(
                f"{cid} is neither a function bundle nor a .wasm module",
                "make a bundle with `codsh fn pack DIR`, or give a WASI preview 1 module",
            )
        compile_module(module, shared_engine())  # a bad module is refused before any file runs
        return Program(WASM, f"wasm {cid}", cid)
