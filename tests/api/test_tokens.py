"""Bearer tokens: made once, stored hashed, revoked at once; no daemons."""

from __future__ import annotations

from pathlib import Path

import pytest

from codsh.api.tokens import TokenStore, User, digest
from codsh.errors import InputError


def test_a_token_names_its_user_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.sqlite")
    token = store.add("alice")
    admin = store.add("root", admin=True)
    assert token.startswith("codsh_") and len(token) > 40
    assert store.who(token) == User("alice") and store.who(admin) == User("root", admin=True)
    assert store.who(token + "x") is None and store.who("") is None
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("tokens.sqlite*"))  # WAL too
    assert token.encode() not in raw and digest(token).encode() in raw
    assert [u.name for u in store.users()] == ["alice", "root"]


def test_one_token_per_user_and_a_revoked_one_is_gone(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.sqlite")
    token = store.add("bob")
    with pytest.raises(InputError, match="has a token already"):
        store.add("bob")
    store.remove("bob")
    assert store.who(token) is None
    with pytest.raises(InputError, match="no token for user"):
        store.remove("bob")
    with pytest.raises(InputError, match="not a user name"):
        store.add("no spaces please")
