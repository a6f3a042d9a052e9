"""The memo of whole folders: a folder's output is a function of what ran and of the folder's CID.

The file memo (core/memo.py) still pays per file on a rerun: a lookup, a copy, a record, a merge
entry and a manifest entry for each of the 10,000s of files that did not change. A folder with the
same CID holds the same names and the same bytes, so under the same job it gives the same output
subtree: a rerun links it whole (core/merge.py) and counts its files without looking at them.

Only folders whose every file succeeded (OK or NO_MATCH, ran to its end, output stored) are
remembered, so a job's failures are always listed file by file. A folder is reused only while the
outputs of all its files are still held somewhere (asked of the nodes as file outputs are).
Pure logic; the store is in codsh/jobs/store.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from codsh.core.memo import memo_keys
from codsh.core.model import FileResult, InputFile, Outcome
from codsh.core.spec import JobSpec

FOLDER_KEY = "folder "  # before the folder's CID in its memo key: never an input file's CID
# Folders of fewer files are not remembered: file by file they cost little, and a job's manifest
# then keeps their files' records itself (a kept folder's are in the manifest that made it).
MIN_FILES = 100


@dataclass(frozen=True)
class KeptFolder:
    """A folder's remembered output: its root (CID, bytes, DAG size) and what a summary counts."""

    path: str  # where the folder is in this job's input
    input_cid: str
    output_cid: str
    size: int  # bytes of output under it
    tsize: int  # its DAG size, as a parent directory's link gives it
    files: int
    no_match: int
    bytes_in: int
    outputs: tuple[str, ...]  # its files' distinct output CIDs: reused only while all are held
    manifest: str = ""  # the manifest of the job that made it: its files' records
    origin: str = ""  # its path in that job's input (it may sit elsewhere in a later one)
    makers: tuple[str, ...] = ()  # the node that made each of `outputs` ("": not known)

    def at(self, path: str) -> KeptFolder:
        return replace(self, path=path)

    def made(self) -> dict[str, str]:
        """Each output and the node that made it (the one asked whether it still holds it)."""
        makers = self.makers if len(self.makers) == len(self.outputs) else ("",) * len(self.outputs)
        return dict(zip(self.outputs, makers, strict=True))

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.origin,
            "input": self.input_cid,
            "output": self.output_cid,
            "size": self.size,
            "tsize": self.tsize,
            "files": self.files,
            "no_match": self.no_match,
            "bytes_in": self.bytes_in,
            "outputs": list(self.outputs),
            "manifest": self.manifest,
            "makers": list(self.makers),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str = "") -> KeptFolder:
        return cls(
            path,
            data["input"],
            data["output"],
            data["size"],
            data["tsize"],
            data["files"],
            data["no_match"],
            data["bytes_in"],
            tuple(data["outputs"]),
            data.get("manifest", ""),
            data.get("path", ""),
            tuple(data.get("makers", ())),
        )

    def entry(self) -> dict[str, Any]:
        """What the manifest says of it: its files' outputs are under its output CID, their
        records in the manifest that made it."""
        return {
            "path": self.path,
            "input": self.input_cid,
            "output": self.output_cid,
            "files": self.files,
            "manifest": self.manifest,
            "from": self.origin,
        }


def folder_keys(spec: JobSpec) -> Callable[[str], str]:
    """The memo key of a folder (by CID) under `spec`: the file key's hash over a text no file's
    CID can be, so everything that changes a file's result changes its folder's too."""
    key = memo_keys(spec)
    return lambda folder_cid: key(FOLDER_KEY + folder_cid)


def candidates(folders: Mapping[str, str], known: Mapping[str, KeptFolder]) -> list[KeptFolder]:
    """The outermost folders of the input (path -> CID) whose output is remembered: a folder
    inside one of them comes with it."""
    chosen: list[KeptFolder] = []
    taken: set[str] = set()
    for path in sorted(folders, key=lambda p: p.count("/")):  # outer folders first
        hit = known.get(folders[path])
        if hit is not None and not _under(path, taken):
            chosen.append(hit.at(path))
            taken.add(path)
    return sorted(chosen, key=lambda k: k.path)


def still_held(kept: Iterable[KeptFolder], available: set[str]) -> list[KeptFolder]:
    """The folders whose every file's output is still held (one gone: its files go one by one)."""
    return [k for k in kept if available.issuperset(k.outputs)]


def outside(paths: Iterable[str], kept: Sequence[KeptFolder]) -> list[str]:
    """The paths of `paths` (folders) not under any kept folder nor kept themselves."""
    taken = {k.path for k in kept}
    return [path for path in paths if not _under(path, taken)]


def files_outside(files: Iterable[InputFile], kept: Sequence[KeptFolder]) -> list[InputFile]:
    """The files of `files` not under any kept folder: those the file memo and the nodes see."""
    if not kept:
        return list(files)
    taken = {k.path for k in kept}
    return [f for f in files if not _under(f.path, taken)]


def _under(path: str, folders: set[str]) -> bool:
    """Whether `path` is one of `folders` or inside one."""
    if not folders:
        return False
    parts = path.split("/")
    return any("/".join(parts[:end]) in folders for end in range(1, len(parts) + 1))


def settled(result: FileResult) -> bool:
    """A file a remembered folder may hold: it succeeded, ran to its end (or was reused from such
    a run), and its output is stored."""
    code = result.exit_code
    return (
        result.output_cid is not None
        and code is not None
        and 0 <= code < 128
        and result.outcome in (Outcome.OK, Outcome.NO_MATCH)
    )


@dataclass
class _Tally:
    files: int = 0
    no_match: int = 0
    bytes_in: int = 0
    bad: bool = False
    outputs: dict[str, str] = field(default_factory=dict)  # output CID -> the node that made it


def _above(tallies: Mapping[str, _Tally], path: str) -> Iterator[_Tally]:
    """The tallies of the folders `path` is inside."""
    parts = path.split("/")
    for end in range(1, len(parts)):
        tally = tallies.get("/".join(parts[:end]))
        if tally is not None:
            yield tally


def to_remember(
    folders: Mapping[str, str],
    results: Iterable[FileResult],
    kept: Sequence[KeptFolder],
    merged: Mapping[str, tuple[str, int, int]],
    manifest: str = "",
    min_files: int = MIN_FILES,
) -> list[KeptFolder]:
    """The folders of the input (path -> CID) to remember after a job: every file under them
    `settled`, at least `min_files` of them, and not already remembered (a kept folder).
    `merged`: each folder's output as the merge made it (path -> CID, bytes, DAG size);
    `manifest`: the job's."""
    tallies = {path: _Tally() for path in folders}
    for result in results:
        for tally in _above(tallies, result.path):
            tally.files += 1
            tally.no_match += result.outcome is Outcome.NO_MATCH
            tally.bytes_in += result.input_size
            tally.bad = tally.bad or not settled(result)
            tally.outputs.setdefault(result.output_cid or "", result.node)
    for folder in kept:  # counted as its files are
        for tally in _above(tallies, folder.path):
            tally.files += folder.files
            tally.no_match += folder.no_match
            tally.bytes_in += folder.bytes_in
            tally.outputs.update(folder.made())
    taken = {k.path for k in kept}
    fresh = []
    for path, tally in sorted(tallies.items()):
        if tally.bad or tally.files < max(min_files, 1) or path in taken or path not in merged:
            continue
        cid, size, tsize = merged[path]
        outputs = tuple(sorted(tally.outputs))
        makers = tuple(tally.outputs[cid] for cid in outputs)
        fresh.append(
            KeptFolder(
                path,
                folders[path],
                cid,
                size,
                tsize,
                tally.files,
                tally.no_match,
                tally.bytes_in,
                outputs,
                manifest,
                path,
                makers,
            )
        )
    return fresh
