"""`codsh images build/ls`: the job images, built locally (no registry)."""

from __future__ import annotations

import time
from collections.abc import Callable

import click

from codsh.errors import InputError


@click.group()
def images() -> None:
    """Build and list codsh's job images."""


@images.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--force", is_flag=True, help="Rebuild even when nothing changed.")
def build(names: tuple[str, ...], force: bool) -> None:
    """Build the images NAMEd (busybox, python; default all), skipping those up to date.

    codsh/python is made with debootstrap from a Debian mirror (the one apt uses here, or
    $CODSH_DEBIAN_MIRROR): it needs root and takes a minute or two.
    """
    from codsh import images as recipes
    from codsh.executor.container import docker_client

    selected = recipes.select(names)
    client = docker_client()
    for recipe in selected:
        started = time.monotonic()
        image_id, built = recipes.build(recipe, client, force, log=_progress(recipe.tag))
        verb = f"built in {time.monotonic() - started:.0f} s" if built else "up to date"
        click.echo(f"{recipe.tag}: {verb} ({image_id})", err=True)


def _progress(tag: str) -> Callable[[str], None]:
    """Build steps go to stderr, prefixed with the image (a rootfs build takes minutes)."""
    return lambda line: click.echo(f"{tag}: {line}", err=True)


@images.command(name="ls")
def ls_command() -> None:
    """Show each image and its digest (jobs pin images by it)."""
    from codsh import images as recipes
    from codsh.executor.container import docker_client

    client = docker_client()
    for recipe in recipes.recipes():
        try:
            click.echo(f"{recipe.tag}  {recipes.resolve(client, recipe.tag)}")
        except InputError as exc:
            click.echo(f"{recipe.tag}  missing: {exc.hint}")
