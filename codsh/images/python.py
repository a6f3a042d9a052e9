"""codsh/python: Debian's python3 and pip, the base that Python-function environments build on.

Nodes build environments offline (`pip install --no-index --find-links WHEELHOUSE --target DIR`),
so the client must fetch wheels that fit the node's interpreter without running it. The image's
labels say which: the Python version, the ABI tag and the wheel platform tags its own pip accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from codsh.errors import InputError
from codsh.images.rootfs import RootfsRecipe

TAG = "codsh/python:latest"
PYTHON_LABEL = "org.codsh.python"  # "3.11"
ABI_LABEL = "org.codsh.pip-abi"  # "cp311"
PLATFORMS_LABEL = "org.codsh.pip-platforms"  # "manylinux_2_36_x86_64,...,manylinux1_x86_64"

#: Run by the image's own python3 at build time; its pip's tag logic is the one that will install.
PROBE = """
import json, sys
from pip._vendor.packaging import tags
platforms = []
for tag in tags.sys_tags():
    if tag.platform.startswith(("manylinux", "musllinux")) and tag.platform not in platforms:
        platforms.append(tag.platform)
print(json.dumps({
    "org.codsh.python": "%d.%d" % sys.version_info[:2],
    "org.codsh.pip-abi": "cp%d%d" % sys.version_info[:2],
    "org.codsh.pip-platforms": ",".join(platforms),
}))
"""

RECIPE = RootfsRecipe(
    name="python",
    release="bookworm",  # fixed, not the host's: every node must get the same interpreter
    packages=("python3", "python3-pip"),
    changes=(
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        "ENV HOME=/tmp",  # the only writable place in a job container
        "ENV PYTHONDONTWRITEBYTECODE=1",
        "ENV PIP_DISABLE_PIP_VERSION_CHECK=1",
        "ENV PIP_NO_CACHE_DIR=1",
        "USER 65534:65534",
        "WORKDIR /tmp",
        'CMD ["python3"]',
    ),
    trim=(
        "dev/*",  # device nodes: the engine provides /dev
        "etc/hostname",
        "etc/resolv.conf",  # the host's: the engine mounts its own
        "tmp/*",
        "var/tmp/*",
        "var/cache/apt/*",
        "var/cache/debconf/*-old",
        "var/lib/apt/lists/*",
        "var/lib/dpkg/*-old",
        "var/log/*",
        "usr/share/doc/*/*",
        "usr/share/man/*",
        "usr/share/info/*",
        "usr/share/locale/*",  # message translations (the C.UTF-8 locale is in /usr/lib/locale)
        "usr/share/lintian/*",
        "usr/share/bug/*",
    ),
    keep=("usr/share/doc/*/copyright",),
    probe=PROBE,
)


@dataclass(frozen=True)
class PipTarget:
    """What `pip download` needs to fetch wheels for the image's interpreter."""

    python: str
    abi: str
    platforms: tuple[str, ...]

    def download_args(self) -> list[str]:
        """Arguments for `pip download` (with --dest, requirements) from any host."""
        args = ["--only-binary=:all:", "--python-version", self.python, "--implementation", "cp"]
        args += ["--abi", self.abi]
        for platform in self.platforms:
            args += ["--platform", platform]
        return args

    @classmethod
    def from_labels(cls, labels: dict[str, Any], image: str = TAG) -> PipTarget:
        try:
            platforms = tuple(p for p in str(labels[PLATFORMS_LABEL]).split(",") if p)
            return cls(str(labels[PYTHON_LABEL]), str(labels[ABI_LABEL]), platforms)
        except KeyError as exc:
            raise InputError(
                f"image {image!r} has no {exc.args[0]} label: it is not a codsh Python image",
                "run `codsh images build python` (or `make setup`)",
            ) from None


def pip_target(client: docker.DockerClient, image: str = TAG) -> PipTarget:
    """The wheel tags of a local Python image, read from its labels (never from a registry)."""
    try:
        labels = client.images.get(image).labels or {}
    except docker.errors.ImageNotFound:
        raise InputError(
            f"image {image!r} is not in the local Docker engine",
            "run `codsh images build python` (or `make setup`)",
        ) from None
    return PipTarget.from_labels(labels, image)
