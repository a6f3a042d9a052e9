"""The debootstrap image builder's pure parts, and a failing debootstrap (cleaned up, explained)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import docker
import pytest

from codsh import images
from codsh.errors import CodshError, InputError
from codsh.images import python, rootfs


def test_mirror_is_the_one_apt_uses_for_the_release() -> None:
    deb822 = (
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb deb-src\n# comment\nURIs: http://mirror.example/debian/\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert rootfs.mirror_from_sources([deb822], "bookworm") == "http://mirror.example/debian"
    one_line = "deb-src http://a/debian bookworm main\ndeb [arch=amd64 signed-by=/k] http://b/debian bookworm main\n"
    assert rootfs.mirror_from_sources([one_line], "bookworm") == "http://b/debian"
    disabled = "Types: deb\nURIs: http://c/debian\nSuites: bookworm\nEnabled: no\n"
    assert (
        rootfs.mirror_from_sources([disabled, "deb http://ubuntu/ jammy main"], "bookworm") is None
    )


def test_trim_keeps_what_it_should_and_never_follows_symlinks(tmp_path: Path) -> None:
    host = tmp_path / "host-docs"  # stands for the host's /usr/share/doc
    (host / "bash").mkdir(parents=True)
    (host / "bash" / "changelog").write_text("the host's")
    root = tmp_path / "rootfs"
    doc = root / "usr/share/doc"
    (doc / "python3").mkdir(parents=True)
    (doc / "python3" / "copyright").write_text("keep me")
    (doc / "python3" / "changelog.gz").write_bytes(b"x" * 1000)
    (doc / "python3" / "examples").mkdir()
    (doc / "python3" / "examples" / "a.py").write_bytes(b"y" * 500)
    (doc / "bash").symlink_to(host)  # an absolute link out of the rootfs
    (root / "var/lib/apt/lists").mkdir(parents=True)
    (root / "var/lib/apt/lists" / "index").write_bytes(b"z" * 100)

    freed = rootfs.trim(
        root, ["usr/share/doc/*/*", "var/lib/apt/lists/*"], ["usr/share/doc/*/copyright"]
    )

    assert freed == 1600
    assert sorted(p.name for p in (doc / "python3").iterdir()) == ["copyright"]
    assert (host / "bash" / "changelog").read_text() == "the host's"
    assert (doc / "bash").is_symlink()
    assert list((root / "var/lib/apt/lists").iterdir()) == []


def test_recipe_hash_covers_the_recipe_not_the_mirror() -> None:
    recipe = python.RECIPE
    assert recipe.context_hash() == dataclasses.replace(recipe).context_hash()
    for change in (
        {"release": "trixie"},
        {"packages": (*recipe.packages, "python3-numpy")},
        {"trim": recipe.trim[:-1]},
        {"changes": (*recipe.changes, "ENV X=1")},
    ):
        assert dataclasses.replace(recipe, **change).context_hash() != recipe.context_hash()


def test_select_builds_busybox_first_and_refuses_unknown_names() -> None:
    assert [r.name for r in images.select([])] == ["busybox", "python"]
    assert [r.name for r in images.select(["python", "busybox"])] == ["busybox", "python"]
    with pytest.raises(InputError, match="nosuch") as caught:
        images.select(["nosuch"])
    assert "busybox, python" in caught.value.hint


@pytest.mark.skipif(
    os.geteuid() != 0 or rootfs.debootstrap_binary() is None, reason="needs root and debootstrap"
)
def test_failing_debootstrap_is_explained_and_cleaned_up(
    engine: docker.DockerClient, tmp_path: Path
) -> None:
    recipe = dataclasses.replace(python.RECIPE, name="codsh-test-broken")
    with pytest.raises(CodshError) as caught:
        rootfs.build_image(recipe, engine, {}, mirror="http://127.0.0.1:9/debian", scratch=tmp_path)
    error = caught.value
    assert "debootstrap bookworm from http://127.0.0.1:9/debian exited with code" in error.message
    assert "127.0.0.1" in error.message.split("\n", 1)[1]  # the log's tail says what it tried
    assert rootfs.MIRROR_ENV in error.hint
    assert list(tmp_path.iterdir()) == []  # the scratch rootfs is gone
    with pytest.raises(docker.errors.ImageNotFound):
        engine.images.get(recipe.tag)
