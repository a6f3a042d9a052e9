"""`codsh images build/ls`: the job images, built locally (no registry)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import click

from codsh.commands.settings import Settings, pass_settings, run_async
from codsh.core.spec import WASM, JobSpec
from codsh.errors import InputError


@click.group()
def images() -> None:
    """Build and list codsh's job images."""


@images.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--force", is_flag=True, help="Rebuild even when nothing changed.")
@click.option("--no-push", is_flag=True, help="Do not put the images into IPFS.")
@pass_settings
def build(settings: Settings, names: tuple[str, ...], force: bool, no_push: bool) -> None:
    """Build the images NAMEd (busybox, python; default all), skipping those up to date, and
    push each into IPFS (`codsh images push`): prints one CID a line, `--image ipfs://CID`.

    codsh/python is made with debootstrap from a Debian mirror (the one apt uses here, or
    $CODSH_DEBIAN_MIRROR): it needs root and takes a minute or two. Without a kubo that
    answers, the images are built and not pushed (a warning says so).
    """
    from codsh import images as recipes
    from codsh.executor.container import docker_client

    selected = recipes.select(names)
    client = docker_client()
    built_ids = []
    for recipe in selected:
        started = time.monotonic()
        image_id, built = recipes.build(recipe, client, force, log=_progress(recipe.tag))
        verb = f"built in {time.monotonic() - started:.0f} s" if built else "up to date"
        click.echo(f"{recipe.tag}: {verb} ({image_id})", err=True)
        built_ids.append((recipe.tag, image_id))
    if not no_push:
        _push_built(settings, client, built_ids)


def _push_built(settings: Settings, engine: Any, built: list[tuple[str, str]]) -> None:
    """Push each built image (once: an image already in this kubo is not pushed again)."""
    from codsh.config import data_dir
    from codsh.images.content import pushed_cid
    from codsh.ipfs.wire import KuboUnavailable

    async def go() -> None:
        async with settings.kubo() as ipfs:
            for tag, image_id in built:
                started = time.monotonic()
                cid = await pushed_cid(engine, ipfs, image_id, data_dir() / "images.json")
                click.echo(cid)
                seconds = time.monotonic() - started
                click.echo(f"{tag}: in IPFS as {cid} ({seconds:.0f} s)", err=True)

    try:
        run_async(go)
    except KuboUnavailable as exc:
        click.echo(
            f"warning: the images were built but not pushed into IPFS: {exc.message}; "
            "push them with `codsh images push NAME` once a kubo runs",
            err=True,
        )


@images.command()
@click.argument("name")
@pass_settings
def push(settings: Settings, name: str) -> None:
    """Put image NAME into IPFS as a folder (OCI layout + Docker's manifest.json); print its CID.

    The same image gives the same CID on every machine. `--image ipfs://CID` then runs jobs in
    it on any node: one that lacks it loads it from IPFS and checks its config digest.
    """
    from codsh.executor.container import docker_client
    from codsh.images.content import push as push_image

    async def go() -> None:
        async with settings.kubo() as ipfs:
            pushed = await push_image(docker_client(), ipfs, name)
        click.echo(pushed.cid)
        click.echo(f"{name}: {pushed.config_digest}, {pushed.size} bytes", err=True)

    run_async(go)


def pinned_image(settings: Settings, engine: Any, image: str) -> tuple[str, str]:
    """(image ID, image CID) of `image`: a local name (its ID, no CID) or an image by content
    (`ipfs://CID`: the ID its folder names, read through kubo)."""
    from codsh import images as recipes
    from codsh.core.oci import content_cid

    try:
        cid = content_cid(image)
    except ValueError as exc:
        raise InputError(
            str(exc), "e.g. --image ipfs://bafy... (`codsh images push NAME`)"
        ) from None
    if cid is None:
        return recipes.resolve(engine, image), ""
    return run_async(_digest_of, settings, cid), cid


def with_image_cid(settings: Settings, engine: Any, spec: JobSpec) -> JobSpec:
    """`spec` carrying its image's CID for a cluster (pushed once, then remembered), so that
    nodes with engines of their own can load it; WASM modules and specs that have one: as is."""
    from codsh.config import data_dir
    from codsh.images.content import pushed_cid

    if spec.kind == WASM or spec.image_cid or not spec.image_digest:
        return spec

    async def push() -> str:
        async with settings.kubo() as ipfs:
            return await pushed_cid(engine, ipfs, spec.image_digest, data_dir() / "images.json")

    return replace(spec, image_cid=run_async(push))


async def _digest_of(settings: Settings, cid: str) -> str:
    from codsh.images.content import image_digest

    async with settings.kubo() as ipfs:
        return await image_digest(ipfs, cid)


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
