"""`codsh fn pack DIR`: a Python function bundle (script, codsh.toml, wheels) as one CID for `-x`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from codsh.commands.settings import Settings, pass_settings, run_async
from codsh.core.spec import PYTHON_IMAGE


@click.group()
def fn() -> None:
    """Package Python functions for `codsh job submit -x CID`."""


@fn.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--image",
    default=PYTHON_IMAGE,
    show_default=True,
    help="The Python image the function will run in (its wheel tags pick the wheels).",
)
@pass_settings
def pack(settings: Settings, folder: Path, image: str) -> None:
    """Bundle FOLDER (codsh.toml, scripts, requirements.txt) with its wheels; print the CID.

    \b
    codsh.toml:
      [function]
      script = "process.py"
      name = "downscale"

    The requirements are resolved here into wheels for the nodes' interpreter; nodes install
    them without network. Pin versions (name==1.2.3) and the same folder gives the same CID.
    """
    from codsh.commands.programs import add_folder
    from codsh.executor.container import docker_client
    from codsh.functions.bundle import pack_directory
    from codsh.images.python import pip_target

    target = pip_target(docker_client(), image)
    with tempfile.TemporaryDirectory(prefix="codsh-pack-") as tmp:
        bundle = pack_directory(folder, Path(tmp) / folder.resolve().name, target)

        async def add() -> str:
            async with settings.kubo() as ipfs:
                return await add_folder(ipfs, bundle)

        click.echo(run_async(add))
