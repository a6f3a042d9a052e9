"""Images by content: `push` puts a local image into IPFS as a folder (core/oci.py) and `ensure`
gives a node that lacks it the image from there, loaded into its Docker engine and checked.

A node never asks a registry: containers run by image ID, and a missing ID is fetched by the CID
the job names, streamed from kubo into Docker's load API as a tar (no copy on disk beyond what
Docker keeps), checked against the config digest, and pinned so the node keeps serving it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import docker
import docker.errors
import trio

from codsh.core import oci
from codsh.errors import CodshError, InfrastructureError, InputError
from codsh.images.rootfs import SCRATCH
from codsh.ipfs.client import KuboClient

CHUNK = 1024 * 1024
LOAD_TIMEOUT = 900.0  # seconds a node may take to fetch and load an image


@dataclass(frozen=True)
class Pushed:
    cid: str
    config_digest: str
    size: int  # bytes of the config and layers


async def push(engine: docker.DockerClient, ipfs: KuboClient, name: str) -> Pushed:
    """Put image `name` into IPFS as an image folder; the same image gives the same CID."""
    try:
        image = await trio.to_thread.run_sync(engine.images.get, name)
    except docker.errors.ImageNotFound:
        raise InputError(
            f"image {name!r} is not in the local Docker engine", "`docker images` lists them"
        ) from None
    work = Path(tempfile.mkdtemp(prefix="codsh-push-", dir=SCRATCH if SCRATCH.is_dir() else None))
    try:
        folder = await trio.to_thread.run_sync(_write_folder, image, work)
        added = await ipfs.add_paths([folder])
        root = added[-1]
        size = sum(p.stat().st_size for p in (folder / "blobs" / "sha256").iterdir())
        return Pushed(root.cid, str(image.id), size)
    finally:
        await trio.to_thread.run_sync(lambda: shutil.rmtree(work, ignore_errors=True))


async def pushed_cid(
    engine: docker.DockerClient, ipfs: KuboClient, image_id: str, index: Path
) -> str:
    """The CID of local image `image_id` in IPFS: pushed once, then remembered in `index`
    (image ID -> CID) while this kubo still has that folder. A cluster job carries it, so that
    nodes with engines of their own can load the image."""
    known: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):
        known = json.loads(index.read_text())
    cid = known.get(image_id)
    if cid and await ipfs.has_block(cid):
        return cid
    cid = (await push(engine, ipfs, image_id)).cid
    known[image_id] = cid
    index.parent.mkdir(parents=True, exist_ok=True)
    temporary = index.with_suffix(".tmp")
    temporary.write_text(json.dumps(known, indent=1, sort_keys=True))
    os.replace(temporary, index)
    return cid


def _write_folder(image: Any, work: Path) -> Path:
    """`docker save` of `image`, streamed into an image folder under `work` (blobs by digest)."""
    folder = work / "image"
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    saved: dict[str, oci.Blob] = {}  # path in the save -> its blob
    links: dict[str, str] = {}
    manifest: list[dict[str, Any]] = []
    stream = cast(IO[bytes], _Reader(image.save(chunk_size=CHUNK)))
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            if member.issym():
                links[member.name] = os.path.normpath(
                    os.path.join(os.path.dirname(member.name), member.linkname)
                )
                continue
            if not member.isfile():
                continue
            source = archive.extractfile(member)
            assert source is not None
            if member.name == "manifest.json":
                manifest = json.loads(source.read())
            elif member.name.endswith((".json", "layer.tar")) and member.name != "repositories":
                saved[member.name] = _store_blob(source, blobs)
    for name, target in links.items():
        saved[name] = saved[target]
    [entry] = manifest
    config = saved[entry["Config"]]
    if config.digest != image.id:
        raise InfrastructureError(f"docker save gave config {config.digest}, not {image.id}")
    layers = [saved[path] for path in entry["Layers"]]
    for path, data in oci.layout(config, layers).files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    return folder


def _store_blob(source: IO[bytes], blobs: Path) -> oci.Blob:
    digest = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(dir=blobs, delete=False) as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    final = blobs / digest.hexdigest()
    os.replace(out.name, final)
    return oci.Blob(f"sha256:{digest.hexdigest()}", size)


class _Reader:
    """A file object over an iterator of chunks (what `docker save` gives), for tarfile's `r|`."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                break
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


async def image_digest(ipfs: KuboClient, cid: str, timeout: float = 30.0) -> str:
    """The config digest (image ID) of the image folder at `cid`, read from its manifest.json."""
    data = b""
    try:
        with trio.fail_after(timeout):
            async for chunk in ipfs.cat(f"{cid}/manifest.json"):
                data += chunk
        return oci.load_plan(data).config_digest
    except (ValueError, trio.TooSlowError, CodshError) as exc:
        raise InputError(
            f"{cid} is not a codsh image folder ({exc or 'not found in time'})",
            "make one with `codsh images push NAME`; its CID is what --image ipfs://CID takes",
        ) from None


async def ensure(
    engine: docker.DockerClient, ipfs: KuboClient, cid: str, config_digest: str
) -> float | None:
    """Make image `config_digest` present in `engine`: None when it already was, else the
    seconds it took to fetch it from `cid` and load it. An image that cannot be had is an
    infrastructure failure naming the CID (the shard goes to another node)."""
    try:
        await trio.to_thread.run_sync(engine.images.get, config_digest)
        return None
    except docker.errors.ImageNotFound:
        pass
    started = time.monotonic()
    try:
        with trio.fail_after(LOAD_TIMEOUT):
            await _load(engine, ipfs, cid, config_digest)
            await ipfs.pin_add(cid)
    except trio.TooSlowError:
        raise InfrastructureError(f"image {cid} did not load within {LOAD_TIMEOUT:g} s") from None
    try:
        await trio.to_thread.run_sync(engine.images.get, config_digest)
    except docker.errors.ImageNotFound:
        raise InfrastructureError(f"image {cid} loaded, but {config_digest} is not there") from None
    return time.monotonic() - started


async def _load(
    engine: docker.DockerClient, ipfs: KuboClient, cid: str, config_digest: str
) -> None:
    manifest = b"".join([chunk async for chunk in ipfs.cat(f"{cid}/manifest.json")])
    try:
        plan = oci.load_plan(manifest)
    except ValueError as exc:
        raise InfrastructureError(f"image {cid}: {exc}") from None
    if plan.config_digest != config_digest:
        raise InfrastructureError(f"image {cid} is {plan.config_digest}, not {config_digest}")
    sizes = {f"blobs/sha256/{e.path}": e.size for e in await ipfs.ls(f"{cid}/blobs/sha256")}
    own = oci.loader_manifest(plan.members[1], plan.members[2:])  # no tag from the folder
    send, receive = trio.open_memory_channel[bytes](4)

    refused: list[InfrastructureError] = []

    async def produce() -> None:
        async with send:
            with contextlib.suppress(trio.BrokenResourceError):  # the load stopped: it says why
                try:
                    await _frame(ipfs, cid, plan, sizes, own, send)
                except InfrastructureError as exc:  # docker gets a cut tar and loads nothing
                    refused.append(exc)

    def chunks() -> Iterator[bytes]:

        while True:
            try:
                yield trio.from_thread.run(receive.receive)
            except trio.EndOfChannel:
                return

    def load() -> None:
        for status in engine.api.load_image(chunks()):  # type: ignore[no-untyped-call]
            if isinstance(status, dict) and status.get("error"):
                raise InfrastructureError(f"docker load of image {cid}: {status['error']}")

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            try:
                await trio.to_thread.run_sync(load)
            finally:
                await receive.aclose()
    except* InfrastructureError as group:
        raise (refused or group.exceptions)[0] from None
    if refused:
        raise refused[0]


async def _frame(
    ipfs: KuboClient,
    cid: str,
    plan: oci.LoadPlan,
    sizes: dict[str, int],
    own: bytes,
    send: trio.MemorySendChannel[bytes],
) -> None:
    """The tar `docker load` reads: this node's manifest.json, then the plan's blobs streamed
    from kubo, in ustar framing, each checked against its digest before the next is sent (a
    blob that does not match ends the tar there: docker loads nothing)."""
    await send.send(oci.tar_header("manifest.json", len(own)) + own + oci.tar_padding(len(own)))
    for path in plan.members[1:]:
        size = sizes.get(path)
        if size is None:
            raise InfrastructureError(f"image {cid} lacks {path}")
        await send.send(oci.tar_header(path, size))
        digest = hashlib.sha256()
        async for chunk in ipfs.cat(f"{cid}/{path}"):
            digest.update(chunk)
            await send.send(chunk)
        if f"sha256:{digest.hexdigest()}" != oci.blob_digest(path):
            raise InfrastructureError(
                f"image {cid}: {path} does not match its digest (it is sha256:"
                f"{digest.hexdigest()}); the image was not loaded",
                "the folder was altered: push the image again (`codsh images push NAME`)",
            )
        await send.send(oci.tar_padding(size))
    await send.send(oci.TAR_END)
