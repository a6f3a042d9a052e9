"""Images by content (issue 13): an image goes into IPFS as a folder with a stable CID, and a node
that lacks it loads it from there, checked by its config digest. Real kubo, real Docker."""

from __future__ import annotations

import contextlib
from pathlib import Path

import docker
import docker.errors
import pytest

from codsh.core.model import InputFile, Shard
from codsh.core.spec import JobSpec
from codsh.errors import InfrastructureError, InputError
from codsh.executor.runners import shard_runner
from codsh.images.content import ensure, image_digest, push
from codsh.ipfs.client import AddOptions, KuboClient
from codsh.ipfs.multipart import AddEntry
from codsh.kubo_daemon import KuboProcess
from tests.conftest import run


def test_an_image_travels_by_content_and_runs_where_it_was_missing(
    kubo: KuboProcess, engine: docker.DockerClient, own_image: str, tmp_path: Path
) -> None:
    async def go() -> None:
        async with KuboClient(kubo.api_url) as ipfs:
            first = await push(engine, ipfs, own_image)
            again = await push(engine, ipfs, own_image)
            assert first.cid == again.cid and first.config_digest == own_image  # stable CID
            assert await image_digest(ipfs, first.cid) == own_image
            assert await ensure(engine, ipfs, first.cid, own_image) is None  # already here
            engine.images.remove(own_image, force=True)  # now this engine lacks it
            seconds = await ensure(engine, ipfs, first.cid, own_image)
            assert seconds is not None and seconds >= 0
            assert str(engine.images.get(own_image).id) == own_image
            assert first.cid in await ipfs.pin_ls(first.cid)
            # a job naming the image by content runs on an engine that lacked it
            engine.images.remove(own_image, force=True)
            [added] = await ipfs.add([AddEntry("f", _once(b"x\n"))])
            spec = JobSpec("cat /marker", "unused", image=f"ipfs://{first.cid}")
            spec = JobSpec(
                "cat /marker",
                "unused",
                image=spec.image,
                image_digest=own_image,
                image_cid=first.cid,
            )
            runner, setup = await shard_runner(spec, ipfs, engine, tmp_path)
            [result] = await runner.run(Shard(0, (InputFile("f", added.cid, 2),)))
            assert result.ok, result.error
            assert setup is not None and setup.built and setup.environment == f"image {first.cid}"

    run(go, deadline=240)


def test_a_folder_that_is_not_an_image_or_the_wrong_image_is_refused(
    kubo: KuboProcess, engine: docker.DockerClient, own_image: str
) -> None:
    async def go() -> None:
        async with KuboClient(kubo.api_url) as ipfs:
            added = await ipfs.add([AddEntry("manifest.json", _once(b"[]"))], AddOptions(wrap=True))
            plain = added[-1]  # a folder with a manifest.json that names no image
            with pytest.raises(InputError, match="is not a codsh image folder"):
                await image_digest(ipfs, plain.cid, timeout=10)
            pushed = await push(engine, ipfs, own_image)
            other = "sha256:" + "0" * 64
            with pytest.raises(InfrastructureError, match=f"image {pushed.cid} is {own_image}"):
                await ensure(engine, ipfs, pushed.cid, other)

    run(go, deadline=120)


async def _once(data: bytes):  # type: ignore[no-untyped-def]
    yield data


def _folder_of(engine: docker.DockerClient, image: str, work: Path) -> Path:
    """The image folder `codsh images push` adds, on disk, to alter before adding it."""
    from codsh.images.content import _write_folder

    work.mkdir()
    return _write_folder(engine.images.get(image), work)


def test_an_altered_blob_is_refused_by_its_digest_and_nothing_is_loaded(
    kubo: KuboProcess, engine: docker.DockerClient, own_image: str, tmp_path: Path
) -> None:
    """The config blob changed under its name (so its manifest still names the right image):
    docker would have loaded it as another image; the stream is cut at that blob instead."""
    folder = _folder_of(engine, own_image, tmp_path / "altered")
    config = folder / "blobs" / "sha256" / own_image.removeprefix("sha256:")
    config.write_bytes(config.read_bytes().replace(b'"User":"65534:65534"', b'"User":"0:0"'))
    before = {i.id for i in engine.images.list(all=True)}

    async def go() -> None:
        async with KuboClient(kubo.api_url) as ipfs:
            altered = (await ipfs.add_paths([folder]))[-1].cid
            engine.images.remove(own_image, force=True)
            with pytest.raises(InfrastructureError, match="does not match its digest") as caught:
                await ensure(engine, ipfs, altered, own_image)
            assert altered in caught.value.message

    run(go, deadline=180)
    assert {i.id for i in engine.images.list(all=True)} <= before - {own_image}


def test_a_folder_cannot_tag_the_image_it_loads(
    kubo: KuboProcess, engine: docker.DockerClient, own_image: str, tmp_path: Path
) -> None:
    """A folder whose manifest.json carries RepoTags would have tagged what it loads (e.g. as
    codsh/busybox:latest, which local jobs resolve); a node loads its own manifest.json."""
    import json

    folder = _folder_of(engine, own_image, tmp_path / "tagged")
    hijack = f"codsh-test/hijack-{own_image[7:19]}:latest"
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest[0]["RepoTags"] = [hijack]
    (folder / "manifest.json").write_text(json.dumps(manifest))

    async def go() -> None:
        async with KuboClient(kubo.api_url) as ipfs:
            tagged = (await ipfs.add_paths([folder]))[-1].cid
            engine.images.remove(own_image, force=True)
            assert await ensure(engine, ipfs, tagged, own_image) is not None

    run(go, deadline=180)
    assert str(engine.images.get(own_image).id) == own_image
    with pytest.raises(docker.errors.ImageNotFound):
        engine.images.get(hijack)


def test_another_image_under_the_same_tag_does_not_stand_in_for_the_job_image(
    kubo: KuboProcess, engine: docker.DockerClient, own_image: str, image_id: str, tmp_path: Path
) -> None:
    """The job names its image by content: a node whose engine has some other image under the
    job image's tag loads the right one and runs it (it never runs by tag)."""
    tag = next(t for t in engine.images.get(own_image).tags)
    marker = str(engine.containers.run(own_image, "cat /marker", remove=True).decode()).strip()

    async def go() -> bytes:
        async with KuboClient(kubo.api_url) as ipfs:
            pushed = await push(engine, ipfs, own_image)
            engine.images.remove(own_image, force=True)
            engine.images.get(image_id).tag(tag)  # codsh/busybox now answers to that tag
            [added] = await ipfs.add([AddEntry("f", _once(b"x\n"))])
            spec = JobSpec(
                "cat /marker", "unused", image=tag, image_digest=own_image, image_cid=pushed.cid
            )
            runner, _ = await shard_runner(spec, ipfs, engine, tmp_path)
            [result] = await runner.run(Shard(0, (InputFile("f", added.cid, 2),)))
            assert result.ok and result.output_cid, result.error
            return b"".join([chunk async for chunk in ipfs.cat(result.output_cid)])

    try:
        assert run(go, deadline=240).decode().strip() == marker  # busybox has no /marker
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            engine.images.remove(tag)  # the tag only: codsh/busybox stays
