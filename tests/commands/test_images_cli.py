"""`codsh images push` and `--image ipfs://CID` end to end (issue 13): a job runs in an image its
node's engine did not have, loaded from IPFS by content."""

from __future__ import annotations

import json
from pathlib import Path

import docker

from tests.commands.cli import add, assert_usage_error, cat, codsh


def test_a_job_runs_in_an_image_given_by_content(
    env: dict[str, str], engine: docker.DockerClient, own_image: str, tmp_path: Path
) -> None:
    pushed = codsh("images", "push", own_image, env=env)
    assert pushed.code == 0, pushed.err
    image_cid = pushed.cid
    marker = engine.containers.run(own_image, ["cat", "/marker"], remove=True)
    engine.images.remove(own_image, force=True)  # this engine no longer has it
    source = add(env, tmp_path / "in", {"a.txt": b"a\n"})
    ran = codsh(
        "run",
        "-e",
        "cat /marker",
        "--image",
        f"ipfs://{image_cid}",
        "-c",
        source,
        "--json",
        env=env,
    )
    assert ran.code == 0, ran.err
    record = json.loads(ran.out)
    assert cat(env, f"{record['output']}/a.txt") == marker
    assert record["spec"]["image_cid"] == image_cid and record["spec"]["image_digest"] == own_image
    setup = json.loads(cat(env, record["manifest"]))["setup"]
    assert [(s["environment"], s["built"]) for s in setup] == [(f"image {image_cid}", True)]
    again = codsh(
        "run", "-e", "cat /marker", "--image", image_cid, "-c", source, "--no-memo", env=env
    )
    assert again.code == 0 and again.cid == record["output"], again.err


def test_bad_images_by_content_are_usage_errors(env: dict[str, str], tmp_path: Path) -> None:
    source = add(env, tmp_path / "in", {"a.txt": b"a\n"})
    not_cid = codsh("run", "-e", "cat", "--image", "ipfs://nope", "-c", source, env=env)
    assert_usage_error(not_cid, "ipfs:// is followed by an image folder's CID")
    folder = add(env, tmp_path / "plain", {"x.txt": b"x\n"})
    not_image = codsh("run", "-e", "cat", "--image", f"ipfs://{folder}", "-c", source, env=env)
    assert_usage_error(not_image, f"{folder} is not a codsh image folder")
    missing = codsh("images", "push", "codsh-test/never-built", env=env)
    assert_usage_error(missing, "'codsh-test/never-built' is not in the local Docker engine")
