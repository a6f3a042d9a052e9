"""Datasets over many CIDs: one UnixFS directory that links its parts by reference. No I/O here.

A dataset is the directory kubo makes with `ipfs files cp /ipfs/CID /dir/NAME` for each part: a
link per part with its CID and cumulative DAG size, and nothing of the parts copied. So one job runs
over all the parts, and each part's files still run on the nodes that hold them.

This module parses what the user asks for (`NAME=CID` arguments and list files), checks it, merges
it with an existing dataset's links, and encodes the directory node; codsh/commands/dataset.py does
the kubo calls around it.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from codsh.core.hamt import ShardingError
from codsh.core.merge import Block, directory_nodes
from codsh.core.names import NameProblem, check_shardable
from codsh.core.unixfs import DIRECTORY, FILE, HAMT_SHARD, Link, parse_cid, unixfs_type
from codsh.errors import InputError

ENTRY_HINT = "write each part as NAME=CID, e.g. logs-2016=bafy...; NAME is a file name, without '/'"
# A list line: NAME, then `=` or blanks, then the CID (which holds neither `=` nor blanks). The
# shortest NAME wins, so `year=2016 bafy...` names the part `year=2016`.
_LIST_LINE = re.compile(r"(?P<name>.*?)(?:\s*=\s*|\s+)(?P<source>[^\s=]+)")


@dataclass(frozen=True)
class Part:
    """One part the user asked for: its name in the dataset and `CID[/path]`, and where it was
    given (an argument, or `list.txt:7`) so errors can point at it."""

    name: str
    source: str
    where: str


def parse_argument(text: str, where: str) -> Part:
    """`NAME=CID[/path]`: the CID follows the last `=` (so names like `year=2016` work)."""
    name, equals, source = text.rpartition("=")
    if not equals:
        raise InputError(f"{where}: expected NAME=CID, got {text!r}", ENTRY_HINT)
    return _part(name, source, where)


def parse_list(text: str, filename: str) -> list[Part]:
    """A list file: one `NAME=CID` or `NAME CID` per line; blank lines and `#` comments skipped."""
    parts = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{filename}:{number}"
        match = _LIST_LINE.fullmatch(line)
        if match is None:
            raise InputError(f"{where}: expected NAME=CID or NAME CID, got {line!r}", ENTRY_HINT)
        parts.append(_part(match["name"], match["source"], where))
    return parts


def _part(name: str, source: str, where: str) -> Part:
    check_name(name, where)
    return Part(name, _check_source(source, where), where)


def check_name(name: str, where: str) -> None:
    """A part's name is one path component: kubo would refuse or misread anything else."""
    problem = None
    if not name:
        problem = "the name is empty"
    elif "/" in name:
        problem = f"the name {name!r} contains '/'"
    elif name in (".", ".."):
        problem = f"the name {name!r} is not a file name"
    elif "\0" in name:
        problem = f"the name {name!r} contains a NUL byte"
    else:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            problem = f"the name {name!r} is not valid UTF-8"
    if problem:
        raise InputError(f"{where}: {problem}", ENTRY_HINT)


def _check_source(text: str, where: str) -> str:
    """`CID` or `CID/path` (an /ipfs/ or ipfs:// prefix is dropped); the CID must parse."""
    source = text.strip()
    for prefix in ("/ipfs/", "ipfs://"):
        source = source.removeprefix(prefix)
    root, _, rest = source.partition("/")
    try:
        parse_cid(root)
    except ValueError as exc:
        raise InputError(
            f"{where}: {root!r} is not a valid CID ({exc})",
            "CIDs look like bafy... or Qm...; `codsh add PATH` prints one for your files",
        ) from exc
    rest = rest.strip("/")
    return f"{root}/{rest}" if rest else root


def check_unique(parts: Sequence[Part]) -> None:
    """Refuse a name given twice: a directory holds one entry per name."""
    counts = Counter(part.name for part in parts)
    repeated = [name for name, count in counts.items() if count > 1]
    if repeated:
        places = "; ".join(
            f"{name!r} at {', '.join(p.where for p in parts if p.name == name)}"
            for name in repeated
        )
        raise InputError(
            f"names given more than once: {places}", "give each part a name of its own"
        )


def shard_links(node: Any, cid: str, root: bool = False) -> tuple[list[Link], list[str]]:
    """The parts linked from one node of a dataset (its root, or a HAMT shard under it), and
    the CIDs of the child shards to read next. In a shard a link named `XX` (the slot in hex) is
    a child shard and `XXname` is the part `name`, as boxo writes them (codsh/core/hamt.py)."""
    if not isinstance(node, dict) or not isinstance(node.get("Links"), list):
        raise InputError(
            f"{cid} is a file, not a dataset",
            "make a dataset with `codsh dataset new NAME=CID ...`",
        )
    kind = unixfs_type(_dag_json_bytes(node.get("Data")))
    if kind not in ((DIRECTORY, HAMT_SHARD) if root else (HAMT_SHARD,)):
        what = "a file" if kind == FILE else "not a UnixFS directory"
        raise InputError(
            f"{cid} is {what}, not a dataset",
            "make a dataset with `codsh dataset new NAME=CID ...`",
        )
    links: list[Link] = []
    shards: list[str] = []
    for link in node["Links"]:
        try:
            name, target, tsize = str(link["Name"]), str(link["Hash"]["/"]), int(link["Tsize"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"{cid} has a link without name, CID or size ({link!r})",
                "make a new dataset with `codsh dataset new NAME=CID ...`",
            ) from exc
        if kind == DIRECTORY:
            links.append(Link(target, name, tsize))
        elif len(name) == 2:
            shards.append(target)
        else:
            links.append(Link(target, name[2:], tsize))
    return links, shards


def _dag_json_bytes(value: Any) -> bytes:
    """dag-json bytes ({"/": {"bytes": base64 without padding}}); b'' when absent or malformed."""
    try:
        text = value["/"]["bytes"]
        return base64.b64decode(text + "=" * (-len(text) % 4))
    except (KeyError, TypeError, ValueError):
        return b""


def combine(existing: Iterable[Link], added: Sequence[Link], replace: bool = False) -> list[Link]:
    """The existing links plus `added`; a name already there is an error unless `replace`."""
    old = {link.name: link for link in existing}
    clashes = sorted(link.name for link in added if link.name in old)
    if clashes and not replace:
        raise InputError(
            f"the dataset already has {', '.join(map(repr, clashes))}",
            "choose other names, or pass --replace to point these names at the new CIDs",
        )
    for link in added:
        old[link.name] = link
    return list(old.values())


def build(links: Sequence[Link]) -> tuple[Block, int]:
    """The dataset's root node (links sorted bytewise by name, as kubo does) and its tsize."""
    blocks, tsize = build_all(links)
    return blocks[-1], tsize


def build_all(links: Sequence[Link]) -> tuple[list[Block], int]:
    """Every node of the dataset, children first: one directory node, or past kubo's threshold
    the HAMT-sharded directory `ipfs files cp` of the same parts gives; and the root's tsize."""
    if not links:
        raise InputError("a dataset needs at least one part", ENTRY_HINT)
    try:
        blocks, _, tsize = directory_nodes(links)
    except ShardingError as exc:
        raise InputError(
            f"a dataset of {len(links)} parts cannot be sharded: {exc}",
            "rename one of those parts",
        ) from None
    return blocks, tsize


def check_names(existing: Iterable[Link], parts: Sequence[Part], replace: bool = False) -> None:
    """What `combine` and the HAMT would refuse, from the names alone: before any part is read."""
    combine(existing, [Link("", part.name, 0) for part in parts], replace)
    names = {link.name for link in existing} | {part.name for part in parts}
    try:
        check_shardable(sorted(names))
    except NameProblem as exc:
        raise InputError(str(exc), "rename one of those parts") from None
