"""Uploads to the orchestrator: a tar of files and folders only, nothing outside it."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from codsh.api.data import unpack
from codsh.errors import InputError
from tests.api.conftest import Orchestrator


def archive(path: Path, *members: tarfile.TarInfo, data: bytes = b"x\n") -> Path:
    with tarfile.open(path, "w") as tar:
        for member in members:
            member.size = len(data) if member.isfile() else 0
            tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def test_files_and_folders_are_unpacked_with_their_top_level_names(tmp_path: Path) -> None:
    tar = archive(tmp_path / "a.tar", member("logs", tarfile.DIRTYPE), member("logs/a.txt"))
    tar2 = archive(tmp_path / "b.tar", member("one.txt"), member("logs/b c.txt"))
    assert unpack(tar, tmp_path / "out1") == ["logs"]
    assert (tmp_path / "out1" / "logs" / "a.txt").read_bytes() == b"x\n"
    assert unpack(tar2, tmp_path / "out2") == ["one.txt", "logs"]


@pytest.mark.parametrize(
    ("members", "words"),
    [
        ([member("../escape.txt")], "a path outside it"),
        ([member("/etc/passwd")], "a path outside it"),
        ([member("a/../../b")], "a path outside it"),
        ([member("link", tarfile.SYMTYPE, "/etc/passwd")], "not a file or a folder"),
        ([member("hard", tarfile.LNKTYPE, "other")], "not a file or a folder"),
        ([member("fifo", tarfile.FIFOTYPE)], "not a file or a folder"),
    ],
)
def test_what_would_leave_the_upload_folder_is_refused(
    tmp_path: Path, members: list[tarfile.TarInfo], words: str
) -> None:
    with pytest.raises(InputError, match=words):
        unpack(archive(tmp_path / "bad.tar", *members), tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_a_body_that_is_no_tar_is_refused(tmp_path: Path) -> None:
    (tmp_path / "junk").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(InputError, match="not a tar stream"):
        unpack(tmp_path / "junk", tmp_path / "out")


def test_the_api_answers_a_bad_upload_with_400(orchestrator: Orchestrator, tmp_path: Path) -> None:
    bad = archive(tmp_path / "bad.tar", member("../escape.txt")).read_bytes()
    status, body = orchestrator.call("POST", "/v1/add", raw=bad)
    assert status == 400 and "outside it" in body["error"]
    status, body = orchestrator.call("POST", "/v1/add", raw=b"junk")
    assert status == 400 and "not a tar stream" in body["error"]
