"""Stable names for nightly jobs: `--name NAME` publishes the job's latest complete output under an
IPNS key of the driver's kubo (`codsh-NAME`, ed25519, made once), so readers follow one address
while the CID moves every night; `-c NAME` and `-c /ipns/KEY` resolve to a CID at submit time.

What was published is kept in a small SQLite table beside the job store (names.sqlite): a lone
kubo (no routing) cannot resolve even its own IPNS records, and the table makes `-c NAME` and
`codsh name ls` cost no kubo call. A job that failed on some files does not move its name: the
name always points at a complete output.
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from codsh.config import data_dir
from codsh.core.spec import check_input
from codsh.core.unixfs import is_cid
from codsh.errors import CodshError, InputError

if TYPE_CHECKING:
    from codsh.ipfs.client import KuboClient
    from codsh.jobs.store import JobStore

KEY_PREFIX = "codsh-"  # kubo key names: codsh's own keys never clash with the user's
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
IPNS_PREFIXES = ("/ipns/", "ipns://")
SCHEMA = """
CREATE TABLE IF NOT EXISTS names (
    name TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    cid TEXT NOT NULL,
    job TEXT NOT NULL,
    owner TEXT,
    published REAL NOT NULL
)
"""
NAME_HINT = "a name is letters, digits, '-' and '_' (at most 63), e.g. nightly"


def check_name(name: str | None) -> str | None:
    """`name` when it can be a job's stable name (and never be taken for a CID), else an error."""
    if name is None:
        return None
    if not NAME.fullmatch(name) or is_cid(name):
        raise InputError(f"{name!r} cannot be a job name", NAME_HINT)
    return name


def key_name(name: str) -> str:
    return KEY_PREFIX + name


def is_cid_path(text: str) -> bool:
    """True when `text` is a CID[/path] (maybe /ipfs/...), not an /ipns/ path or a name: what
    needs no resolving."""
    text = text.strip()
    if text.startswith(IPNS_PREFIXES):
        return False
    root = text.removeprefix("/ipfs/").removeprefix("ipfs://").partition("/")[0]
    return text.startswith(("/ipfs/", "ipfs://")) or not NAME.fullmatch(root) or is_cid(root)


@dataclass(frozen=True)
class Name:
    name: str
    key: str  # the IPNS name (the key's ID): /ipns/KEY
    cid: str  # the output it points at
    job: str  # the run that produced it
    owner: str | None  # through the orchestrator: the user whose job published it
    published: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class NameStore:
    """The names published from here: name -> IPNS key, current CID, the job that set it."""

    def __init__(self, path: Path | None = None) -> None:
        path = path or data_dir() / "names.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _one(self, column: str, value: str) -> Name | None:
        row = self._db.execute(f"SELECT * FROM names WHERE {column} = ?", [value]).fetchone()
        return Name(**dict(row)) if row else None

    def get(self, name: str) -> Name | None:
        return self._one("name", name)

    def by_key(self, key: str) -> Name | None:
        return self._one("key", key)

    def all(self) -> list[Name]:
        rows = self._db.execute("SELECT * FROM names ORDER BY name").fetchall()
        return [Name(**dict(row)) for row in rows]

    def put(self, name: Name) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO names VALUES (?, ?, ?, ?, ?, ?)",
                [name.name, name.key, name.cid, name.job, name.owner, name.published],
            )


def check_owner(names: NameStore, name: str | None, owner: str | None) -> None:
    """On the orchestrator a name is its first publisher's: another user's job may not move it."""
    existing = names.get(name) if name else None
    if existing and existing.owner != owner:
        raise InputError(
            f"the name {name!r} belongs to {existing.owner or 'the orchestrator'}",
            "choose another --name (`codsh name ls` lists the names in use)",
        )


async def publish(
    ipfs: KuboClient, names: NameStore, name: str, cid: str, job: str, owner: str | None = None
) -> Name:
    """Point `name` at `cid`: its key is made on first use, the IPNS record published (ttl 1m)."""
    from codsh.ipfs import ipns

    check_owner(names, name, owner)
    keys = await ipns.key_list(ipfs)
    key = keys.get(key_name(name)) or await ipns.key_gen(ipfs, key_name(name))
    await ipns.name_publish(ipfs, key_name(name), cid)
    published = Name(name, key, cid, job, owner, time.time())
    names.put(published)
    return published


async def publish_job(ipfs: KuboClient, store: JobStore, job_id: str) -> str | None:
    """After job `job_id` ended: publish its output under its name, if it has one and every file
    succeeded. Returns what to tell the user (None for a job without a name)."""
    from codsh.jobs.states import SUCCEEDED

    record = store.get(job_id)
    if not record.name:
        return None
    if record.state != SUCCEEDED or not record.output:
        return f"name {record.name} not moved: this run ended {record.state}"
    try:
        with NameStore() as names:
            done = await publish(ipfs, names, record.name, record.output, job_id, record.owner)
    except CodshError as exc:
        return f"name {record.name} not published: {exc.message}"
    return f"name {done.name} -> {done.cid} (/ipns/{done.key})"


def resolve_known(names: NameStore, text: str) -> str | None:
    """`text` (NAME[/path] or /ipns/KEY[/path]) from the names published here, or None."""
    text = text.strip()
    ipns = text.startswith(IPNS_PREFIXES)
    for prefix in IPNS_PREFIXES:
        text = text.removeprefix(prefix)
    root, _, rest = text.partition("/")
    known = names.by_key(root) if ipns else names.get(root)
    if known is None:
        if not ipns:
            raise InputError(
                f"{root!r} is not a valid CID, nor a name published here",
                "`codsh name ls` lists the names; a job's --name NAME publishes one; "
                "CIDs look like bafy... or Qm...",
            )
        return None
    return check_input(f"{known.cid}/{rest}" if rest else known.cid)


async def resolve(ipfs: KuboClient, names: NameStore, text: str) -> str:
    """`text` as a CID[/path]: a CID as it is, a name or a key published here from the names
    table, another /ipns/ name through kubo (the DHT, or DNSLink for a domain)."""
    from codsh.ipfs import ipns

    if is_cid_path(text):
        return check_input(text)
    known = resolve_known(names, text)
    if known is not None:
        return known
    path = text.strip()
    for prefix in IPNS_PREFIXES:
        path = path.removeprefix(prefix)
    root, _, rest = path.partition("/")
    try:
        target = await ipns.name_resolve(ipfs, root)
    except CodshError as exc:
        raise InputError(
            f"cannot resolve /ipns/{root}: {exc.message}",
            "check the name, and that a node of this swarm holds its record (the publisher's "
            "kubo republishes it while it runs)",
        ) from exc
    return check_input(f"{target}/{rest}" if rest else target)
