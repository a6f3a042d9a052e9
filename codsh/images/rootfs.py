"""Images made from a Debian root filesystem: `debootstrap`, trim, `docker import` (no registry).

Some runtimes (Python with pip) cannot be copied from the host the way busybox-static is, and no
registry is reachable to pull a base image, so the image's files come straight from Debian's
package mirror. The build needs root (debootstrap chroots and makes device files) and a few hundred
MB of scratch space under /var/tmp, which is removed afterwards, on failure too.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import docker
import docker.errors

from codsh.errors import CodshError

#: Bump when the build steps below change what lands in the image, so images are rebuilt.
FORMAT = 1
DEFAULT_MIRROR = "http://deb.debian.org/debian"
MIRROR_ENV = "CODSH_DEBIAN_MIRROR"
DEBOOTSTRAP_TIMEOUT = 1800.0
#: Scratch space for the rootfs: disk-backed by convention, unlike a /tmp that may be tmpfs (RAM).
SCRATCH = Path("/var/tmp")

Log = Callable[[str], None]


@dataclass(frozen=True)
class RootfsRecipe:
    """A Debian release plus packages, trimmed, imported with Dockerfile-style `changes`.

    `probe` is a Python snippet run with the image's own python3 (chrooted) before trimming; it
    prints a JSON object of extra labels, e.g. the interpreter's version and wheel platform tags.
    """

    name: str
    release: str
    packages: tuple[str, ...]
    changes: tuple[str, ...]  # ENV, USER, WORKDIR, CMD ... (docker import --change)
    trim: tuple[str, ...]  # glob patterns relative to the rootfs, matched per path component
    keep: tuple[str, ...] = ()  # patterns among the trimmed ones to keep (e.g. copyright files)
    probe: str = ""
    variant: str = "minbase"
    components: tuple[str, ...] = ("main",)

    @property
    def tag(self) -> str:
        return f"codsh/{self.name}:latest"

    def context_hash(self) -> str:
        """A hash of everything that decides the image's content (the mirror does not)."""
        fields = {
            "kind": "debootstrap",
            "format": FORMAT,
            "release": self.release,
            "variant": self.variant,
            "components": self.components,
            "packages": sorted(self.packages),
            "changes": self.changes,
            "trim": self.trim,
            "keep": self.keep,
            "probe": self.probe,
        }
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()

    def make(self, client: docker.DockerClient, labels: dict[str, str], log: Log) -> str:
        """debootstrap, trim and import; returns the image ID."""
        return build_image(self, client, labels, log=log)


def debootstrap_binary() -> str | None:
    """debootstrap lives in /usr/sbin, which is not on a normal user's PATH."""
    return shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")


def mirror_from_sources(sources: Iterable[str], release: str) -> str | None:
    """The first `deb` URI serving `release` in apt source files (one-line or deb822 format)."""
    for text in sources:
        for uri, suites in _deb_sources(text):
            if release in suites and uri.startswith(("http://", "https://", "file:/")):
                return uri.rstrip("/")
    return None


def _deb_sources(text: str) -> Iterator[tuple[str, list[str]]]:
    """(URI, suites) of each enabled `deb` entry of one sources file."""
    for line in text.splitlines():  # one-line format: deb [options] URI SUITE COMPONENTS...
        words = line.split("#", 1)[0].split()
        if words[:1] == ["deb"]:
            rest = words[1:]
            if rest and rest[0].startswith("["):
                closing = next((i for i, word in enumerate(rest) if word.endswith("]")), len(rest))
                rest = rest[closing + 1 :]
            if len(rest) >= 2:
                yield rest[0], [rest[1]]
    for stanza in text.split("\n\n"):  # deb822 format: Types, URIs, Suites, Enabled fields
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            key, colon, value = line.partition(":")
            if colon and not line.startswith((" ", "\t", "#")):
                fields[key.strip().lower()] = value.strip()
        enabled = fields.get("enabled", "yes").lower() != "no"
        if enabled and "deb" in fields.get("types", "").split():
            for uri in fields.get("uris", "").split():
                yield uri, fields.get("suites", "").split()


def host_mirror(release: str) -> str:
    """The mirror to bootstrap from: $CODSH_DEBIAN_MIRROR, else the one apt uses here, else Debian's."""
    if os.environ.get(MIRROR_ENV):
        return os.environ[MIRROR_ENV]
    apt = Path("/etc/apt")
    files = [apt / "sources.list", *sorted(apt.glob("sources.list.d/*.list"))]
    files += sorted(apt.glob("sources.list.d/*.sources"))
    texts = []
    for path in files:
        with contextlib.suppress(OSError):
            texts.append(path.read_text(errors="replace"))
    return mirror_from_sources(texts, release) or DEFAULT_MIRROR


def build_image(
    recipe: RootfsRecipe,
    client: docker.DockerClient,
    labels: dict[str, str],
    *,
    mirror: str | None = None,
    scratch: Path | None = None,
    log: Log | None = None,
) -> str:
    """Bootstrap, probe, trim and import `recipe` as its tag; returns the new image ID."""
    say = log or (lambda _: None)
    binary = _check_host()
    mirror = mirror or host_mirror(recipe.release)
    scratch = scratch or (SCRATCH if SCRATCH.is_dir() else None)
    work = Path(tempfile.mkdtemp(prefix=f"codsh-{recipe.name}-rootfs-", dir=scratch))
    try:
        rootfs = work / "rootfs"
        say(f"debootstrap {recipe.release} from {mirror} into {rootfs} (1-2 minutes)")
        started = time.monotonic()
        _debootstrap(binary, recipe, rootfs, mirror, work / "debootstrap.log")
        probed = _probe(recipe, rootfs)
        freed = trim(rootfs, recipe.trim, recipe.keep)
        say(f"bootstrapped in {time.monotonic() - started:.0f} s, trimmed {freed / 1e6:.0f} MB")
        started = time.monotonic()
        image_id = _import(recipe, client, rootfs, {**probed, **labels})
        say(f"imported into Docker in {time.monotonic() - started:.0f} s")
        return image_id
    finally:
        _remove_rootfs(work)


def _check_host() -> str:
    binary = debootstrap_binary()
    if binary is None:
        raise CodshError(
            "cannot build a Debian rootfs image: debootstrap is missing",
            "install Debian's debootstrap (`apt-get install debootstrap`) or run `make setup`",
        )
    if os.geteuid() != 0:
        raise CodshError(
            "cannot build a Debian rootfs image without root (debootstrap chroots and makes devices)",
            "run `sudo .venv/bin/codsh images build python` or `make setup`",
        )
    return binary


def _debootstrap(binary: str, recipe: RootfsRecipe, rootfs: Path, mirror: str, log: Path) -> None:
    command = [
        binary,
        f"--variant={recipe.variant}",
        f"--components={','.join(recipe.components)}",
        f"--include={','.join(recipe.packages)}",
        "--force-check-gpg",  # refuse a mirror whose Release file is not signed by Debian
        recipe.release,
        str(rootfs),
        mirror,
    ]
    try:
        with log.open("wb") as out:
            done = subprocess.run(
                command, stdout=out, stderr=subprocess.STDOUT, timeout=DEBOOTSTRAP_TIMEOUT
            )
        failure = f"exited with code {done.returncode}" if done.returncode else ""
    except subprocess.TimeoutExpired:
        failure = f"did not finish in {DEBOOTSTRAP_TIMEOUT:.0f} s"
    finally:
        _unmount_under(rootfs)  # a killed debootstrap can leave /proc, /sys or /dev mounted
    if failure:
        tail = _tail(log) + _tail(rootfs / "debootstrap" / "debootstrap.log")
        raise CodshError(
            f"debootstrap {recipe.release} from {mirror} {failure}:\n{tail}",
            f"check that {mirror} is reachable and serves {recipe.release} (set {MIRROR_ENV} to "
            "another Debian mirror), that debian-archive-keyring is installed, and that "
            f"{rootfs.parent.parent} has space and is not mounted nodev/noexec",
        )


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "".join(f"    {line}\n" for line in text.splitlines()[-lines:])


def _probe(recipe: RootfsRecipe, rootfs: Path) -> dict[str, str]:
    """Labels computed by the image's own interpreter (so they describe the image, not the host)."""
    if not recipe.probe:
        return {}
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    command = ["chroot", str(rootfs), "/usr/bin/python3", "-I", "-c", recipe.probe]
    done = subprocess.run(command, capture_output=True, env=env, timeout=120)
    try:
        labels = json.loads(done.stdout) if done.returncode == 0 else None
    except ValueError:
        labels = None
    if not isinstance(labels, dict):
        raise CodshError(
            f"the {recipe.tag} rootfs does not run its probe (exit {done.returncode}): "
            f"{done.stderr.decode(errors='replace')[-500:]}",
            "rebuild with --force; if it persists the package list no longer gives a working python3",
        )
    return {str(key): str(value) for key, value in labels.items()}


def trim(rootfs: Path, patterns: Iterable[str], keep: Iterable[str] = ()) -> int:
    """Remove what matches `patterns` (not `keep`) and return the bytes freed.

    Matching walks the tree itself and never follows a symlink: the rootfs has absolute links
    (e.g. /usr/share/doc/x -> /usr/share/doc/y) that would lead into the host's own files.
    """
    keep = tuple(keep)
    freed = 0
    for pattern in patterns:
        for path, relative in _matches(rootfs, pattern.strip("/").split("/")):
            if any(fnmatch.fnmatchcase(relative, kept) for kept in keep):
                continue
            if path.is_dir() and not path.is_symlink():
                freed += sum(_size(p) for p in path.rglob("*"))
                shutil.rmtree(path)
            else:
                freed += _size(path)
                path.unlink()
    return freed


def _matches(root: Path, parts: list[str], prefix: str = "") -> Iterator[tuple[Path, str]]:
    try:
        entries = sorted(os.scandir(root), key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if not fnmatch.fnmatchcase(entry.name, parts[0]):
            continue
        relative = f"{prefix}{entry.name}"
        if len(parts) == 1:
            yield Path(entry.path), relative
        elif entry.is_dir(follow_symlinks=False):
            yield from _matches(Path(entry.path), parts[1:], relative + "/")


def _size(path: Path) -> int:
    with contextlib.suppress(OSError):
        stat = path.lstat()
        return stat.st_size if not path.is_dir() or path.is_symlink() else 0
    return 0


def _import(
    recipe: RootfsRecipe, client: docker.DockerClient, rootfs: Path, labels: dict[str, str]
) -> str:
    """Stream the rootfs as a tar into `docker import` (no tarball on disk), tagged and labelled."""
    changes = [
        *recipe.changes,
        *(f"LABEL {json.dumps(k)}={json.dumps(v)}" for k, v in labels.items()),
    ]
    try:
        previous: str | None = str(client.images.get(recipe.tag).id)
    except docker.errors.ImageNotFound:
        previous = None
    repository, _, tag = recipe.tag.rpartition(":")
    try:
        answer = client.api.import_image_from_data(
            _tar_stream(rootfs), repository=repository, tag=tag, changes=changes
        )
    except docker.errors.APIError as exc:
        answer = json.dumps({"error": exc.explanation or str(exc)})
    errors = _errors(str(answer))
    if errors:  # the engine reports a bad tar in the body of a 200 answer
        raise CodshError(
            f"docker import of {recipe.tag} failed: {errors[0]}",
            "check the Docker engine's free space (`docker system df`) and rerun",
        )
    image_id = str(client.images.get(recipe.tag).id)
    if previous and previous != image_id:  # the old image is now untagged: give its space back
        with contextlib.suppress(docker.errors.APIError):
            if not client.images.get(previous).tags:
                client.images.remove(previous)
    return image_id


def _errors(answer: str) -> list[str]:
    """The `error` fields of the engine's JSON-lines answer."""
    found = []
    for line in answer.splitlines():
        with contextlib.suppress(ValueError):
            message = json.loads(line)
            if isinstance(message, dict) and message.get("error"):
                found.append(str(message["error"]))
    return found


class _Sink:
    """A write-only file object whose bytes are handed out by `drain`, for a streamed tar."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def drain(self) -> Iterator[bytes]:
        chunks, self._chunks = self._chunks, []
        if chunks:
            yield b"".join(chunks)


def _tar_stream(rootfs: Path) -> Iterator[bytes]:
    """The rootfs as tar chunks, in path order, numeric owners; hard links stay hard links."""
    sink = _Sink()
    sink_file: IO[bytes] = sink  # type: ignore[assignment]
    with tarfile.open(fileobj=sink_file, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for directory, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            base = Path(directory)
            for name in sorted(dirnames + filenames):  # symlinks to dirs are not walked into
                path = base / name
                tar.add(path, arcname=str(path.relative_to(rootfs)), recursive=False, filter=_owner)
                yield from sink.drain()
    yield from sink.drain()


def _owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uname = info.gname = ""  # the rootfs's own uids count, not the host's names for them
    return info


def _unmount_under(path: Path) -> None:
    """Unmount anything mounted below `path`, deepest first."""
    for mount in sorted(_mounts_under(path), key=len, reverse=True):
        if subprocess.run(["umount", mount], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", mount], capture_output=True)


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    points = (line.split()[1].replace("\\040", " ") for line in lines if len(line.split()) > 1)
    return [point for point in points if (point + "/").startswith(prefix)]


def _remove_rootfs(work: Path) -> None:
    """Delete the scratch folder, but never through a mount point (that would empty the host's /dev)."""
    _unmount_under(work)
    left = _mounts_under(work)
    if left:
        raise CodshError(
            f"cannot remove {work}: still mounted: {', '.join(left)}",
            f"unmount them (`umount -l PATH`), then `rm -rf {work}`",
        )
    shutil.rmtree(work, ignore_errors=True)
