"""The image folder and the tar `docker load` reads (pure, no daemons)."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from codsh.core import oci

CONFIG = oci.Blob("sha256:" + "c" * 64, 10)
LAYERS = (oci.Blob("sha256:" + "a" * 64, 2048), oci.Blob("sha256:" + "b" * 64, 512))


def test_the_folder_is_an_oci_layout_with_dockers_manifest() -> None:
    files = oci.layout(CONFIG, LAYERS).files
    assert files["oci-layout"] == b'{"imageLayoutVersion":"1.0.0"}'
    [docker] = json.loads(files["manifest.json"])
    assert docker["Config"] == "blobs/sha256/" + "c" * 64
    assert docker["Layers"] == ["blobs/sha256/" + "a" * 64, "blobs/sha256/" + "b" * 64]
    [entry] = json.loads(files["index.json"])["manifests"]
    manifest = files[oci.blob_path(entry["digest"])]
    assert oci.digest_of(manifest) == entry["digest"] and entry["size"] == len(manifest)
    assert json.loads(manifest)["config"]["digest"] == CONFIG.digest
    assert oci.layout(CONFIG, LAYERS).files == files  # a function of the blobs: a stable CID


def test_the_load_plan_reads_dockers_manifest_and_refuses_odd_ones() -> None:
    plan = oci.load_plan(oci.layout(CONFIG, LAYERS).files["manifest.json"])
    assert plan.config_digest == CONFIG.digest
    assert plan.members[0] == "manifest.json" and len(plan.members) == 4
    for bad in (b"[]", b"{}", b'[{"Config": "../x", "Layers": []}]', b"not json"):
        with pytest.raises(ValueError):
            oci.load_plan(bad)


def test_the_framing_is_a_tar_that_tarfile_reads() -> None:
    members = {"manifest.json": b"[1]", "blobs/sha256/" + "a" * 64: b"x" * 700}
    stream = b"".join(
        oci.tar_header(path, len(data)) + data + oci.tar_padding(len(data))
        for path, data in members.items()
    )
    with tarfile.open(fileobj=io.BytesIO(stream + oci.TAR_END)) as archive:
        assert {m.name: archive.extractfile(m).read() for m in archive} == members  # type: ignore[union-attr]


def test_images_by_content_are_told_from_names() -> None:
    cid = "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
    assert oci.content_cid(f"ipfs://{cid}") == cid and oci.content_cid(cid) == cid
    assert oci.content_cid("codsh/busybox:latest") is None and oci.content_cid("busybox") is None
    with pytest.raises(ValueError, match="ipfs:// is followed by"):
        oci.content_cid("ipfs://busybox")
