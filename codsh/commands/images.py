"""`codsh images build/ls`: the minimal job images, built locally."""

from __future__ import annotations

import click

from codsh import images as recipes
from codsh.errors import InputError
from codsh.executor.container import docker_client


@click.group()
def images() -> None:
    """Build and list codsh's job images."""


@images.command()
@click.option("--force", is_flag=True, help="Rebuild even when nothing changed.")
def build(force: bool) -> None:
    """Build every image from codsh/images/ (skipped when up to date)."""
    client = docker_client()
    for recipe in recipes.recipes():
        image_id, built = recipes.build(recipe, client, force)
        verb = "built" if built else "up to date"
        click.echo(f"{recipe.tag}: {verb} ({image_id})", err=True)


@images.command(name="ls")
def ls_command() -> None:
    """Show each image and its digest (jobs pin images by it)."""
    client = docker_client()
    for recipe in recipes.recipes():
        try:
            click.echo(f"{recipe.tag}  {recipes.resolve(client, recipe.tag)}")
        except InputError as exc:
            click.echo(f"{recipe.tag}  missing: {exc.hint}")
