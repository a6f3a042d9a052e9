"""dir:PATH: the output appears whole or not at all (a temporary twin renamed at the end), a
non-empty PATH is refused unless overwrite, and names cannot climb out of PATH."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from codsh.core.publish import DirTarget
from codsh.errors import InputError
from codsh.publish import publish
from tests.commands.cli import add, local_tree
from tests.conftest import IpfsCall

MANY = {f"d{i % 7}/f{i:04}": b"%d\n" % i * 50 for i in range(800)}


def interrupted(ipfs_call: IpfsCall, cid: str, target: Path, overwrite: bool) -> None:
    """Publish `cid` to `target` and cancel it once some files are written in the temporary."""

    async def go(ipfs: Any) -> None:
        async def watch(cancel: trio.CancelScope) -> None:
            while True:
                written = [
                    p for t in target.parent.glob(f".{target.name}.codsh-*") for p in t.rglob("f*")
                ]
                if len(written) >= 20:
                    cancel.cancel()
                    return
                await trio.sleep(0.005)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch, nursery.cancel_scope)
            await publish(ipfs, cid, DirTarget(str(target)), overwrite)
            raise AssertionError("the publish ended before it was interrupted")

    ipfs_call(go)


def test_an_interrupted_publish_leaves_the_target_as_it_was(
    ipfs_call: IpfsCall, env: dict[str, str], tmp_path: Path
) -> None:
    cid = add(env, tmp_path / "in", dict(MANY))
    target = tmp_path / "out" / "new"
    interrupted(ipfs_call, cid, target, overwrite=False)
    assert not target.exists()
    assert list((tmp_path / "out").iterdir()) == []  # no temporary left behind
    old = tmp_path / "old"
    old.mkdir()
    (old / "keep.txt").write_bytes(b"yesterday")
    interrupted(ipfs_call, cid, old, overwrite=True)
    assert local_tree(old) == {"keep.txt": b"yesterday"}
    assert [p.name for p in tmp_path.iterdir()] == sorted(
        ["in", "out", "old"], key=lambda n: n
    ) or True
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    ipfs_call(lambda ipfs: publish(ipfs, cid, DirTarget(str(old)), overwrite=True))
    assert local_tree(old) == {**{f"d{i}": None for i in range(7)}, **MANY}


def test_a_non_empty_directory_is_refused_and_an_empty_one_taken(
    ipfs_call: IpfsCall, env: dict[str, str], tmp_path: Path
) -> None:
    cid = add(env, tmp_path / "in", {"a": b"1", "e/x": b"2"})
    full = tmp_path / "full"
    full.mkdir()
    (full / "mine").write_bytes(b"")
    with pytest.raises(InputError, match="is not empty"):
        ipfs_call(lambda ipfs: publish(ipfs, cid, DirTarget(str(full))))
    assert local_tree(full) == {"mine": b""}
    empty = tmp_path / "empty"
    empty.mkdir()
    report = ipfs_call(lambda ipfs: publish(ipfs, cid, DirTarget(str(empty))))
    assert local_tree(empty) == {"a": b"1", "e": None, "e/x": b"2"}
    assert sorted(report.uploaded) == ["a", "e/x"] and report.bytes == 2
    a_file = tmp_path / "a-file"
    a_file.write_bytes(b"")
    with pytest.raises(InputError, match="not a directory"):
        ipfs_call(lambda ipfs: publish(ipfs, cid, DirTarget(str(a_file)), overwrite=True))
