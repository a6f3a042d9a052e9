"""Publishing an output (a tree or one file, already in IPFS) to another place: the decisions.

Targets parse here; the names a published file gets (and the names refused), what a rerun still
has to upload given what the target already holds, multipart part sizes and S3 ETags, and the
report of a publish that stopped part-way. The adapters (codsh/publish/) only carry these out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from codsh.errors import InputError

IPFS = "ipfs"
SINGLE_NAME = "output"  # the name of a published file that has none (a --concat output, a file CID)
MIN_PART = 5 * 1024**2  # S3's smallest part (but the last)
MAX_PARTS = 10_000  # S3's most parts per upload
MAX_KEY_BYTES = 1024  # S3's longest key, in UTF-8 bytes
TARGET_HINT = "targets are ipfs, dir:PATH or s3://BUCKET/PREFIX"


@dataclass(frozen=True)
class DirTarget:
    path: str  # a local directory; made (atomically) by the publish

    def __str__(self) -> str:
        return f"dir:{self.path}"


@dataclass(frozen=True)
class S3Target:
    bucket: str
    prefix: str  # '' or ending in '/'

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, name: str) -> str:
        return self.prefix + name


Target = DirTarget | S3Target


def parse_target(text: str) -> Target | None:
    """`dir:PATH` or `s3://BUCKET/PREFIX`; None for `ipfs` (outputs are always there)."""
    value = text.strip()
    if value == IPFS:
        return None
    if value.startswith("dir:"):
        path = value[len("dir:") :]
        if not path:
            raise InputError(f"{text!r} names no directory", "e.g. dir:./results")
        return DirTarget(path)
    if value.startswith("s3://"):
        bucket, _, prefix = value[len("s3://") :].partition("/")
        if not bucket or "/" in bucket or bucket != bucket.strip():
            raise InputError(f"{text!r} names no bucket", "e.g. s3://my-bucket/results/")
        prefix = prefix.strip("/")
        return S3Target(bucket, f"{prefix}/" if prefix else "")
    raise InputError(f"{text!r} is not a publish target", TARGET_HINT)


def parse_targets(texts: Iterable[str]) -> list[Target]:
    """The targets of repeated --publish, each once (ipfs dropped: it is where outputs are)."""
    targets: list[Target] = []
    for text in texts:
        target = parse_target(text)
        if target is not None and target not in targets:
            targets.append(target)
    return targets


@dataclass(frozen=True)
class Item:
    """One file to publish: its name under the target (a relative POSIX path), CID and size."""

    name: str
    cid: str
    size: int


def items(files: Sequence[tuple[str, str, int]], root: str, s3: bool) -> list[Item]:
    """The files of an output (path, CID, size; path '' when the output is one file) as items,
    their names checked. A single file is named after the last segment of `root` (CID/path) or
    `SINGLE_NAME`, so a nightly --concat job publishes to the same name every night."""
    result = []
    for path, cid, size in files:
        name = path or (root.rstrip("/").rsplit("/", 1)[-1] if "/" in root else SINGLE_NAME)
        check_name(name, s3)
        result.append(Item(name, cid, size))
    return result


def check_name(name: str, s3: bool) -> None:
    """Refuse names that could escape the target (`..`, absolute) or that S3 handles badly.

    Spaces and any Unicode are kept as they are. Control characters (newlines included) are
    refused for S3: its XML listings cannot carry most of them and tools split keys on newlines;
    a directory takes them (POSIX allows every byte but '/' and NUL)."""
    parts = name.split("/")
    if name.startswith("/") or any(part in ("", ".", "..") for part in parts) or "\0" in name:
        raise InputError(
            f"the output has a file named {name!r}, which would land outside the target",
            "publish only outputs whose names are plain relative paths",
        )
    if s3 and any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise InputError(
            f"the output has a file named {name!r}: S3 keys with control characters "
            "(newlines, tabs) are refused, nothing was uploaded",
            "rename it (e.g. `tr '\\n' _` on the names) or publish to dir:PATH",
        )
    if s3 and len(name.encode()) > MAX_KEY_BYTES:
        raise InputError(f"the file name {name[:60]!r}... is longer than an S3 key may be")


@dataclass(frozen=True)
class Stored:
    """What the target holds under a name: its size, and the CID it was published from when the
    store told us (S3 metadata `codsh-cid`); None when unknown (someone else's object)."""

    size: int
    cid: str | None = None


def to_check(wanted: Sequence[Item], listing: Mapping[str, int], target: S3Target) -> list[str]:
    """The keys worth asking about (a HEAD for their CID): those already there with the same size."""
    return [target.key(i.name) for i in wanted if listing.get(target.key(i.name)) == i.size]


@dataclass
class Plan:
    upload: list[Item] = field(default_factory=list)
    same: list[Item] = field(default_factory=list)  # already there, same CID: skipped
    differ: list[Item] = field(default_factory=list)  # there with other bytes: replaced or refused

    @property
    def bytes(self) -> int:
        return sum(i.size for i in self.upload)


def plan(
    wanted: Sequence[Item], stored: Mapping[str, Stored], target: S3Target, overwrite: bool
) -> Plan:
    """What a publish uploads: what is missing, and what differs when `overwrite`; files already
    there from the same CID (size and CID equal) are skipped, so a rerun sends only the rest."""
    result = Plan()
    for item in wanted:
        there = stored.get(target.key(item.name))
        if there is None:
            result.upload.append(item)
        elif there.size == item.size and there.cid == item.cid:
            result.same.append(item)
        else:
            result.differ.append(item)
            if overwrite:
                result.upload.append(item)
    if result.differ and not overwrite:
        names = ", ".join(repr(i.name) for i in result.differ[:3])
        more = f" and {len(result.differ) - 3} more" if len(result.differ) > 3 else ""
        raise InputError(
            f"{target} already holds {len(result.differ)} object(s) with other content "
            f"({names}{more}); nothing was uploaded",
            "add --overwrite to replace them, or publish to another prefix",
        )
    result.upload.sort(key=lambda i: i.name.encode())
    return result


def part_size(size: int, wanted: int) -> int:
    """The part size for a `size`-byte upload: `wanted` (at least S3's 5 MiB), grown so the upload
    fits in S3's 10,000 parts."""
    part = max(wanted, MIN_PART)
    while -(-size // part) > MAX_PARTS:
        part *= 2
    return part


def multipart_etag(part_md5s: Sequence[bytes]) -> str:
    """The ETag S3 gives a multipart object: the MD5 of its parts' MD5s, '-' and the part count."""
    return f"{hashlib.md5(b''.join(part_md5s)).hexdigest()}-{len(part_md5s)}"


@dataclass
class Report:
    """What one publish did (or had done when it stopped)."""

    target: str
    source: str  # the CID[/path] published
    files: int = 0  # files in the output
    uploaded: list[str] = field(default_factory=list)
    skipped: int = 0  # already there, unchanged
    bytes: int = 0  # bytes uploaded

    def summary(self) -> str:
        skipped = f", {self.skipped} already there" if self.skipped else ""
        return (
            f"published {self.source} to {self.target}: {len(self.uploaded)} of {self.files} "
            f"files uploaded ({self.bytes:,} bytes){skipped}"
        )

    def record(self) -> dict[str, object]:
        """What --json shows of it."""
        return {
            "target": self.target,
            "files": self.files,
            "uploaded": len(self.uploaded),
            "skipped": self.skipped,
            "bytes": self.bytes,
        }


def stopped(
    report: Report, pending: Sequence[str], cause: str, leftover: str = ""
) -> tuple[str, str]:
    """The message and hint of a publish that failed part-way: what was and was not uploaded, and
    `leftover` when an aborted upload could not be cleaned up (else: no partial object is left)."""
    shown = ", ".join(repr(p) for p in pending[:5])
    more = f" and {len(pending) - 5} more" if len(pending) > 5 else ""
    message = (
        f"publishing {report.source} to {report.target} stopped: {cause}. "
        f"{len(report.uploaded)} of {report.files} files uploaded"
        f"{f' ({report.skipped} were already there)' if report.skipped else ''}; "
        f"not uploaded: {len(pending)} ({shown}{more}); "
        f"{leftover or 'no partial object was left under any name'}"
    )
    hint = (
        f"a rerun uploads only what is missing: codsh publish {report.source} --to {report.target}"
    )
    return message, hint
