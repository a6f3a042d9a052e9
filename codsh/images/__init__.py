"""Minimal job images, built locally from the folders beside this file (no registry is reachable).

Each image is tagged `codsh/<name>:latest` and labelled with a hash of its build context, so a build
is skipped when nothing changed. Jobs pin the image by its ID (a sha256 digest of its config).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from codsh.errors import CodshError, InputError

HERE = Path(__file__).resolve().parent
LABEL = "org.codsh.context"


@dataclass(frozen=True)
class ImageRecipe:
    name: str
    folder: Path
    host_files: dict[str, Path]  # extra context files taken from the host, e.g. the static busybox

    @property
    def tag(self) -> str:
        return f"codsh/{self.name}:latest"

    def context_hash(self) -> str:
        digest = hashlib.sha256()
        for path in sorted(self.folder.iterdir()):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        for name, path in sorted(self.host_files.items()):
            digest.update(name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()


def recipes() -> list[ImageRecipe]:
    return [ImageRecipe("busybox", HERE / "busybox", {"busybox": Path("/bin/busybox")})]


def build(
    recipe: ImageRecipe, client: docker.DockerClient, force: bool = False
) -> tuple[str, bool]:
    """Build `recipe` unless an image with the same context hash exists; returns (image id, built)."""
    for name, path in recipe.host_files.items():
        if not path.exists():
            raise CodshError(
                f"cannot build {recipe.tag}: {path} ({name}) is missing",
                "install Debian's busybox-static (`apt-get install busybox-static`) or run `make setup`",
            )
    context_hash = recipe.context_hash()
    if not force:
        try:
            existing = client.images.get(recipe.tag)
            if existing.labels.get(LABEL) == context_hash:
                return str(existing.id), False
        except docker.errors.ImageNotFound:
            pass
    with tempfile.TemporaryDirectory(prefix="codsh-image-") as context:
        for path in recipe.folder.iterdir():
            shutil.copy(path, context)
        for name, path in recipe.host_files.items():
            shutil.copy(path, Path(context) / name)
        image, _ = client.images.build(
            path=context, tag=recipe.tag, labels={LABEL: context_hash}, rm=True, forcerm=True
        )
    return str(image.id), True


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
