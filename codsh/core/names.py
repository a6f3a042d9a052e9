"""Whether a tree of paths can be mirrored as a UnixFS directory: checked before any work.

kubo (0.42) cleans every path it adds as Go's path.Clean does (`d/./a`, `d//a` and `d/a/` are
all `d/a`) and refuses a second entry under a name a directory already has ("directory already
has entry by that name"); it does not normalise Unicode, so NFC `café` and NFD `café` are two
names, there and here. A listing of a hand-made DAG can hold what kubo would never make (two
links of one name, a link named `.`, `..`, empty or with `/` in it): such a tree is refused at the
source, naming the paths, rather than after every file ran and the merge found it. In a folder
that will be HAMT-sharded, two names of the same 64-bit hash are refused too (kubo cannot shard
them either). No I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence

from codsh.core.hamt import SHARDING_SIZE, hamt_hash

CID_BYTES = 36  # a CIDv1 sha2-256 link (raw or dag-pb), as every output and folder node has
MAX_SHOWN = 5  # problems listed in one message


class NameProblem(ValueError):
    """The tree's paths cannot all be entries of one UnixFS tree, with what is wrong."""


def unclean(path: str) -> bool:
    """Whether kubo's path.Clean would change `path` (or it is no name at all)."""
    return any(part in ("", ".", "..") for part in path.split("/"))


def check_tree(files: Sequence[str], directories: Sequence[str] = ()) -> None:
    """Refuse paths that kubo would clean into something else, paths given twice (or as a file
    and a directory), and HAMT hash collisions, before anything is run or added."""
    if list(files) == [""] and not directories:  # the input is one file
        return
    problems = [f"{p!r} is not a plain path" for p in [*directories, *files] if unclean(p)]
    if problems:
        raise NameProblem(_joined(problems))
    kinds: dict[str, str] = {d: "folder" for d in directories}
    children: dict[str, set[str]] = {}
    for path in files:
        if path in kinds:
            what = "twice" if kinds[path] == "file" else "as a file and a folder"
            problems.append(f"{path!r} appears {what}")
        kinds[path] = "file"
    for path in kinds:
        parent, _, name = path.rpartition("/")
        if parent and kinds.get(parent, "folder") == "file":
            problems.append(f"{parent!r} is a file and the folder of {path!r}")
        children.setdefault(parent, set()).add(name)
    if problems:
        raise NameProblem(_joined(problems))
    for parent, names in children.items():
        check_shardable(sorted(names), parent)


def check_shardable(names: Sequence[str], where: str = "") -> None:
    """In a folder of `names` that kubo would shard, no two names may share their 64-bit hash."""
    size = sum(len(name.encode("utf-8")) + CID_BYTES for name in names)
    if size <= SHARDING_SIZE:
        return
    seen: dict[int, str] = {}
    for name in names:
        other = seen.setdefault(hamt_hash(name), name)
        if other != name:
            folder = where or "/"
            raise NameProblem(
                f"in folder {folder!r}, {other!r} and {name!r} have the same 64-bit HAMT hash: "
                "the folder cannot be sharded"
            )


def _joined(problems: list[str]) -> str:
    shown = "; ".join(problems[:MAX_SHOWN])
    more = len(problems) - MAX_SHOWN
    return shown + (f"; and {more} more" if more > 0 else "")


def check_input(source: str, files: Sequence[str], directories: Sequence[str]) -> None:
    """`check_tree` for a job's input, as the InputError a user sees before anything runs."""
    from codsh.errors import InputError

    try:
        check_tree(files, directories)
    except NameProblem as exc:
        raise InputError(
            f"the input {source} cannot be mirrored as a per-file output: {exc}; nothing was run",
            "kubo would refuse such a tree too: rebuild the folder with `codsh add`, or run "
            "with --concat (one output file)",
        ) from None
