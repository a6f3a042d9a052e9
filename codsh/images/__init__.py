"""Minimal job images, built locally (no registry is reachable).

Two kinds of recipe: a Dockerfile folder beside this file (codsh/busybox, `FROM scratch` with the
host's static busybox) and a Debian rootfs made by debootstrap and imported (codsh/python, see
`rootfs.py`). Each image is tagged `codsh/<name>:latest` and labelled with a hash of its recipe, so
a build is skipped when nothing changed. Jobs pin the image by its ID (a sha256 of its config).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from codsh.errors import CodshError, InputError
from codsh.images import python
from codsh.images.rootfs import Log, RootfsRecipe

HERE = Path(__file__).resolve().parent
LABEL = "org.codsh.context"


@dataclass(frozen=True)
class DockerfileRecipe:
    """A Dockerfile and its context files; the hash covers every byte of the context."""

    name: str
    folder: Path
    host_files: dict[str, Path]  # extra context files taken from the host, e.g. the static busybox

    @property
    def tag(self) -> str:
        return f"codsh/{self.name}:latest"

    def context_hash(self) -> str:
        for name, path in self.host_files.items():
            if not path.exists():
                raise CodshError(
                    f"cannot build {self.tag}: {path} ({name}) is missing",
                    "install Debian's busybox-static (`apt-get install busybox-static`) or run `make setup`",
                )
        digest = hashlib.sha256()
        for path in sorted(self.folder.iterdir()):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        for name, path in sorted(self.host_files.items()):
            digest.update(name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()

    def make(self, client: docker.DockerClient, labels: dict[str, str], log: Log) -> str:
        """`docker build` in a temporary copy of the context; returns the image ID."""
        with tempfile.TemporaryDirectory(prefix="codsh-image-") as context:
            for path in self.folder.iterdir():
                shutil.copy(path, context)
            for name, path in self.host_files.items():
                shutil.copy(path, Path(context) / name)
            image, _ = client.images.build(
                path=context, tag=self.tag, labels=labels, rm=True, forcerm=True
            )
        return str(image.id)


Recipe = DockerfileRecipe | RootfsRecipe


def recipes() -> list[Recipe]:
    """Every image codsh builds, busybox first (the default job image)."""
    return [
        DockerfileRecipe("busybox", HERE / "busybox", {"busybox": Path("/bin/busybox")}),
        python.RECIPE,
    ]


def select(names: Iterable[str]) -> list[Recipe]:
    """The recipes named (all when none is), in build order; an unknown name is an input error."""
    wanted = set(names)
    known = recipes()
    unknown = wanted - {recipe.name for recipe in known}
    if unknown:
        raise InputError(
            f"no image recipe named {', '.join(sorted(unknown))}",
            f"choose among {', '.join(recipe.name for recipe in known)}",
        )
    return [recipe for recipe in known if not wanted or recipe.name in wanted]


def build(
    recipe: Recipe, client: docker.DockerClient, force: bool = False, log: Log | None = None
) -> tuple[str, bool]:
    """Build `recipe` unless an image with the same recipe hash exists; returns (image id, built)."""
    context_hash = recipe.context_hash()
    if not force:
        try:
            existing = client.images.get(recipe.tag)
            if existing.labels.get(LABEL) == context_hash:
                return str(existing.id), False
        except docker.errors.ImageNotFound:
            pass
    return recipe.make(client, {LABEL: context_hash}, log or (lambda _: None)), True


def resolve(client: docker.DockerClient, name: str) -> str:
    """The local image ID of `name`; images are never pulled (no registry is assumed reachable)."""
    try:
        return str(client.images.get(name).id)
    except docker.errors.ImageNotFound:
        hint = (
            "run `codsh images build` (or `make setup`)"
            if name.startswith("codsh/")
            else f"build or load {name} into the local Docker engine first (`docker images` lists them)"
        )
        raise InputError(f"image {name!r} is not in the local Docker engine", hint) from None
