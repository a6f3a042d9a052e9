"""One folder of 12,000 files (issue 13): `codsh devstack add` and datasets give the HAMT-sharded
directory kubo's own `ipfs add -r` gives; what cannot be made is refused before any work. Real kubo.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from codsh.core.dataset import Part
from codsh.core.unixfs import Link, dag_pb_cid, encode_node, unixfs_directory_data
from codsh.errors import InputError
from codsh.ipfs.client import KuboClient
from codsh.jobs import datasets
from codsh.kubo_daemon import KuboProcess
from codsh.spread import add_spread
from tests.commands.cli import codsh
from tests.conftest import ipfs_cli, run

COUNT = 12_000  # ~46 estimated bytes a link: ~550 KB, past kubo's 256 KiB threshold
PARTS = 1_200  # with 209-byte names: ~295 KB, past it too


def kubo_root(kubo: KuboProcess, path: Path) -> str:
    """What kubo's own CLI gives the tree, with codsh's canonical settings."""
    args = ("add", "-Q", "-r", "--cid-version=1", "--raw-leaves", str(path))
    return ipfs_cli(kubo, *args).decode().strip()


def wide_folder(root: Path, count: int = COUNT, padding: int = 0) -> Path:
    salt = uuid.uuid4().hex[:8]  # fresh CIDs each run
    root.mkdir()
    for index in range(count):
        (root / f"{index:05d}{'n' * padding}.log").write_text(f"{salt} {index}\n")
    return root


def test_devstack_add_of_12000_files_gives_kubos_own_root(
    kubo: KuboProcess, tmp_path: Path
) -> None:
    """The issue's finding: for one folder of 12,000 files `codsh add` (kubo's) and `codsh devstack
    add` gave two CIDs. Both now give kubo's HAMT root (one node here stands for the devstack)."""
    folder = wide_folder(tmp_path / "wide")
    spread = run(add_spread, folder, 1, [kubo.api_url], deadline=120)
    assert spread == kubo_root(kubo, folder)


def test_a_dataset_past_one_block_is_the_folder_kubo_makes_and_can_grow(
    kubo: KuboProcess, tmp_path: Path
) -> None:
    """A dataset past one block was refused ("too large for one directory block"); it is now
    the HAMT-sharded directory kubo makes of the same entries, and `dataset add` reads its
    shards (no part) to grow it into what kubo gives for the folder with one file more. 1,200
    names of 209 bytes are past the threshold as 12,000 short ones are, and take a tenth of the
    time (each part is one `files/stat`, ~5 ms on a busy machine)."""
    folder = wide_folder(tmp_path / "wide", PARTS, padding=200)
    root = kubo_root(kubo, folder)

    async def go() -> tuple[str, str]:
        async with KuboClient(kubo.api_url) as ipfs:
            entries = await ipfs.ls(root)
            parts = [Part(e.path, e.cid, "test") for e in entries]
            made = await datasets.make(ipfs, parts, find_timeout=10)
            (folder / "zz-new.log").write_text("one more\n")
            [extra] = await ipfs.add_paths([folder / "zz-new.log"])
            grown = await datasets.make(
                ipfs, [Part("zz-new.log", extra.cid, "test")], 10, onto=made.cid
            )
            assert made.parts == PARTS and grown.parts == 1
            return made.cid, grown.cid

    made, grown = run(go, deadline=120)
    assert made == root
    assert grown == kubo_root(kubo, folder)


def test_dataset_add_refuses_a_name_already_there_before_reading_any_part(
    kubo: KuboProcess,
) -> None:
    """The clash was found after every part was stat'ed: a part nobody provides kept it waiting
    the whole --find-timeout first (and then said that, not the clash)."""
    nowhere = dag_pb_cid(uuid.uuid4().bytes)  # no node has it

    async def go() -> InputError:
        async with KuboClient(kubo.api_url) as ipfs:
            [first] = await ipfs.add_paths([Path(os.devnull)])
            made = await datasets.make(ipfs, [Part("a", first.cid, "arg")], 10)
            with pytest.raises(InputError) as caught:
                await datasets.make(
                    ipfs, [Part("a", nowhere, "arg"), Part("b", nowhere, "arg")], 10, made.cid
                )
            return caught.value

    started = time.monotonic()
    error = run(go, deadline=60)
    assert "already has 'a'" in error.message and "--replace" in error.hint
    assert time.monotonic() - started < 8  # not the 10 s find timeout


def test_an_input_with_a_name_twice_is_refused_before_any_file_runs(
    kubo: KuboProcess, tmp_path: Path
) -> None:
    """A hand-made directory with two links named `a` (kubo's own add refuses the second:
    "directory already has entry by that name") ran every file, then the merge refused it."""

    async def crafted() -> str:
        async with KuboClient(kubo.api_url) as ipfs:
            [one] = await ipfs.add_paths([Path(os.devnull)])
            links = [Link(one.cid, "a", 0), Link(one.cid, "a", 0), Link(one.cid, "b", 0)]
            return await ipfs.block_put(encode_node(links, unixfs_directory_data()))

    source = run(crafted)
    env = {**os.environ, "CODSH_IPFS": kubo.api_url, "CODSH_HOME": str(tmp_path / "home")}
    refused = codsh("run", "-e", "sleep 30", "-c", source, env=env, timeout=120)
    assert refused.code == 2, refused.err
    assert "cannot be mirrored" in refused.err and "'a' appears twice" in refused.err
    assert "nothing was run" in refused.err and "Traceback" not in refused.err
    assert refused.seconds < 25  # refused at the source, not after `sleep 30` ran
    concat = codsh("run", "-e", "cat", "-c", source, "--concat", env=env, timeout=120)
    assert concat.code == 0, concat.err  # one output file: the names do not matter


def test_devstack_add_refuses_a_name_that_is_not_utf8_before_adding(tmp_path: Path) -> None:
    """Linux allows any bytes in a name; the layout check hashed it and died with a traceback
    (UnicodeEncodeError) instead of saying which file."""
    from codsh.spread import _local_dirs, _local_files, check_layout

    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "fine.log").write_text("ok\n")
    (folder / os.fsdecode(b"caf\xe9.log")).write_text("latin-1 name\n")
    with pytest.raises(InputError) as caught:
        check_layout(folder, _local_files(folder), _local_dirs(folder))
    assert "is not UTF-8" in caught.value.message and "caf" in caught.value.message
    assert "rename" in caught.value.hint
