"""`codsh images build` also puts the image into IPFS (issue 13): one CID a line on stdout, the
folder `--image ipfs://CID` takes. Real Docker, real kubo, the real CLI."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import docker

from codsh.images.content import image_digest
from codsh.ipfs.client import KuboClient
from codsh.kubo_daemon import KuboProcess
from tests.commands.cli import codsh
from tests.conftest import run


def test_build_pushes_the_image_and_prints_its_cid(
    kubo: KuboProcess, engine: docker.DockerClient, tmp_path: Path
) -> None:
    env = {**os.environ, "CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(tmp_path)}
    built = codsh("images", "build", "busybox", env=env, timeout=300)
    assert built.code == 0, built.err
    cid = built.cid
    assert f"codsh/busybox:latest: in IPFS as {cid}" in built.err

    async def digest() -> str:
        async with KuboClient(kubo.api_url) as ipfs:
            return await image_digest(ipfs, cid)

    assert run(digest) == engine.images.get("codsh/busybox:latest").id
    again = codsh("images", "build", "busybox", env=env, timeout=300)
    assert again.code == 0 and again.cid == cid  # up to date, and not pushed twice
    assert "up to date" in again.err


def test_build_without_a_kubo_builds_and_says_it_did_not_push(tmp_path: Path) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    env = {**os.environ, "CODSH_IPFS": f"http://127.0.0.1:{port}", "CODSH_HOME": str(tmp_path)}
    built = codsh("images", "build", "busybox", env=env, timeout=300)
    assert built.code == 0, built.err
    assert built.out == b""
    assert "built but not pushed" in built.err and "codsh images push" in built.err
    assert "Traceback" not in built.err
    skipped = codsh("images", "build", "busybox", "--no-push", env=env, timeout=300)
    assert skipped.code == 0 and "not pushed" not in skipped.err


def test_an_image_cid_that_is_not_an_image_is_a_usage_error_naming_it(
    kubo: KuboProcess, tmp_path: Path
) -> None:
    """`--image ipfs://CID` of a plain file: exit 2 before anything runs, the CID named."""
    env = {**os.environ, "CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(tmp_path)}
    (tmp_path / "f").write_text("not an image\n")
    added = codsh("add", str(tmp_path / "f"), env=env)
    assert added.code == 0, added.err
    cid = added.cid
    ran = codsh("run", "-e", "cat", "-c", cid, "--image", f"ipfs://{cid}", env=env, timeout=120)
    assert ran.code == 2, ran.err
    assert f"{cid} is not a codsh image folder" in ran.err and "codsh images push" in ran.err
    assert "Traceback" not in ran.err and ran.out == b""
