"""Bearer tokens: one per user, made and revoked by the orchestrator's operator.

Only a SHA-256 of each token is stored, so the file does not give tokens away; a token is shown
once, when it is made. A token names its user (the jobs they submit are recorded as theirs), may
be an admin's (who sees every job), and may carry its own limits (jobs at once, files per job;
without, the orchestrator's defaults apply).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codsh.errors import InputError

PREFIX = "codsh_"
SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    admin INTEGER NOT NULL,
    created REAL NOT NULL
);
"""
ADDED_COLUMNS = {"max_running": "INTEGER", "max_files": "INTEGER"}  # NULL: the server's default


@dataclass(frozen=True)
class User:
    name: str
    admin: bool = False
    max_running: int | None = None  # jobs at once; None: the orchestrator's --max-running
    max_files: int | None = None  # files per job; None: the orchestrator's --max-files


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(tokens)")}
        with self._lock, self._db:
            for column, kind in ADDED_COLUMNS.items():
                if column not in present:
                    self._db.execute(f"ALTER TABLE tokens ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self._db.close()

    def add(
        self,
        name: str,
        admin: bool = False,
        max_running: int | None = None,
        max_files: int | None = None,
    ) -> str:
        """A new token for user `name` (shown once: only its hash is kept), with its own limits
        when given."""
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise InputError(f"{name!r} is not a user name", "use letters, digits, - and _")
        token = PREFIX + secrets.token_urlsafe(32)
        try:
            with self._lock, self._db:
                self._db.execute(
                    "INSERT INTO tokens (name, hash, admin, created, max_running, max_files) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [name, digest(token), int(admin), time.time(), max_running, max_files],
                )
        except sqlite3.IntegrityError:
            raise InputError(
                f"user {name!r} has a token already",
                f"revoke it first: codsh serve token rm {name}",
            ) from None
        return token

    def remove(self, name: str) -> None:
        """Revoke `name`'s token: the next request with it gets 401."""
        with self._lock, self._db:
            gone = self._db.execute("DELETE FROM tokens WHERE name = ?", [name]).rowcount
        if not gone:
            raise InputError(f"no token for user {name!r}", "`codsh serve token list` lists them")

    def set_limits(
        self, name: str, max_running: int | None = None, max_files: int | None = None
    ) -> User:
        """Give `name`'s token these limits (0: back to the orchestrator's default; None: kept)."""
        user = next((u for u in self.users() if u.name == name), None)
        if user is None:
            raise InputError(f"no token for user {name!r}", "`codsh serve token list` lists them")
        running = user.max_running if max_running is None else max_running or None
        files = user.max_files if max_files is None else max_files or None
        with self._lock, self._db:
            self._db.execute(
                "UPDATE tokens SET max_running = ?, max_files = ? WHERE name = ?",
                [running, files, name],
            )
        return User(name, user.admin, running, files)

    def users(self) -> list[User]:
        with self._lock:
            rows = self._db.execute(f"SELECT {COLUMNS} FROM tokens ORDER BY name").fetchall()
        return [_user(row) for row in rows]

    def who(self, token: str) -> User | None:
        """The user of `token`, or None when it is unknown or revoked."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {COLUMNS} FROM tokens WHERE hash = ?", [digest(token)]
            ).fetchone()
        return _user(row) if row else None


COLUMNS = "name, admin, max_running, max_files"


def _user(row: tuple[Any, ...]) -> User:
    name, admin, max_running, max_files = row
    return User(name, bool(admin), max_running, max_files)
