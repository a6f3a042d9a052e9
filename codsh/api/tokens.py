"""Bearer tokens: one per user, made and revoked by the orchestrator's operator.

Only a SHA-256 of each token is stored, so the file does not give tokens away; a token is shown
once, when it is made. A token names its user (the jobs they submit are recorded as theirs) and
may be an admin's (who sees every job).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class User:
    name: str
    admin: bool = False


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def add(self, name: str, admin: bool = False) -> str:
        """A new token for user `name` (shown once: only its hash is kept)."""
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise InputError(f"{name!r} is not a user name", "use letters, digits, - and _")
        token = PREFIX + secrets.token_urlsafe(32)
        try:
            with self._lock, self._db:
                self._db.execute(
                    "INSERT INTO tokens VALUES (?, ?, ?, ?)",
                    [name, digest(token), int(admin), time.time()],
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

    def users(self) -> list[User]:
        with self._lock:
            rows = self._db.execute("SELECT name, admin FROM tokens ORDER BY name").fetchall()
        return [User(name, bool(admin)) for name, admin in rows]

    def who(self, token: str) -> User | None:
        """The user of `token`, or None when it is unknown or revoked."""
        with self._lock:
            row = self._db.execute(
                "SELECT name, admin FROM tokens WHERE hash = ?", [digest(token)]
            ).fetchone()
        return User(row[0], bool(row[1])) if row else None
