"""Job images as content: the folder an image becomes in IPFS, and the tar `docker load` takes.

No registry is reachable here, and for storage providers a registry is one more party to trust:
images travel the way inputs do, by CID. The folder is an OCI image layout (oci-layout,
index.json, blobs/sha256/...) that also carries Docker's manifest.json pointing into the blobs,
because Docker 20.10's `docker load` reads only that one (a pure OCI layout is refused). Every
file is a function of the image's config and layers, so the same image gives the same CID on
every machine. A node loads it by streaming a tar of exactly these files into Docker's load API;
the image ID Docker reports must be the config digest the job names. Pure logic.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
BLOCK = 512


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_path(digest: str) -> str:
    """blobs/sha256/<hex> for `sha256:<hex>`."""
    algorithm, _, hexdigest = digest.partition(":")
    if algorithm != "sha256" or len(hexdigest) != 64:
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return f"blobs/sha256/{hexdigest}"


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int


@dataclass(frozen=True)
class Layout:
    """The small files of an image's folder; the config and layers are blobs beside them."""

    files: dict[str, bytes]  # path in the folder -> bytes (manifests, index, oci-layout)
    config: Blob
    layers: tuple[Blob, ...]


def layout(config: Blob, layers: Sequence[Blob]) -> Layout:
    """The folder's metadata files for an image of `config` and uncompressed `layers`."""
    manifest = _json(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "digest": config.digest, "size": config.size},
            "layers": [
                {"mediaType": LAYER_TYPE, "digest": layer.digest, "size": layer.size}
                for layer in layers
            ],
        }
    )
    manifest_digest = digest_of(manifest)
    index = _json(
        {
            "schemaVersion": 2,
            "mediaType": INDEX_TYPE,
            "manifests": [
                {"mediaType": MANIFEST_TYPE, "digest": manifest_digest, "size": len(manifest)}
            ],
        }
    )
    docker_manifest = loader_manifest(
        blob_path(config.digest), [blob_path(layer.digest) for layer in layers]
    )
    files = {
        "oci-layout": OCI_LAYOUT,
        "index.json": index,
        "manifest.json": docker_manifest,
        blob_path(manifest_digest): manifest,
    }
    return Layout(files, config, tuple(layers))


@dataclass(frozen=True)
class LoadPlan:
    """What a node streams into `docker load`, read from the folder's manifest.json."""

    config_digest: str
    members: tuple[str, ...]  # manifest.json first, then the config and the layers


def load_plan(docker_manifest: bytes) -> LoadPlan:
    """The files of the folder `docker load` needs, from its manifest.json; a ValueError for
    a folder that is not a codsh image."""
    try:
        [entry] = json.loads(docker_manifest)
        config, layers = entry["Config"], list(entry["Layers"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"manifest.json is not a one-image Docker manifest ({exc})") from None
    paths = [config, *layers]
    for path in paths:
        if not isinstance(path, str) or not path.startswith("blobs/sha256/") or ".." in path:
            raise ValueError(f"manifest.json points outside blobs/sha256/: {path!r}")
    return LoadPlan(blob_digest(config), ("manifest.json", *paths))


def loader_manifest(config: str, layers: Sequence[str]) -> bytes:
    """Docker's manifest.json for one image, without tags: a node loads the one it wrote, not
    the folder's, so a folder cannot tag what it loads (e.g. as codsh/busybox:latest)."""
    return _json([{"Config": config, "RepoTags": None, "Layers": list(layers)}])


def blob_digest(path: str) -> str:
    """The digest a `blobs/sha256/HEX` path names: its content must hash to it."""
    return "sha256:" + path.rsplit("/", 1)[-1]


def content_cid(image: str) -> str | None:
    """The CID of an image given by content (`ipfs://CID` or a bare CID), else None (a name)."""
    from codsh.core.unixfs import is_cid

    text = image.removeprefix("ipfs://")
    if is_cid(text):
        return text
    if image.startswith("ipfs://"):
        raise ValueError(f"{image!r}: ipfs:// is followed by an image folder's CID")
    return None


def tar_header(path: str, size: int) -> bytes:
    """A tar member's header (ustar), fixed metadata: only the name and the size matter."""
    info = tarfile.TarInfo(path)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def tar_padding(size: int) -> bytes:
    """Zeros after a member's `size` bytes, up to the next 512-byte block."""
    return b"\0" * (-size % BLOCK)


TAR_END = b"\0" * (2 * BLOCK)
