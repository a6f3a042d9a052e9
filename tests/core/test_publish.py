"""Publish decisions: targets, names, what a rerun uploads, part sizes, the stop report."""

from __future__ import annotations

import hashlib

import pytest

from codsh.core.publish import (
    MIN_PART,
    DirTarget,
    Item,
    Report,
    S3Target,
    Stored,
    items,
    multipart_etag,
    parse_target,
    parse_targets,
    part_size,
    plan,
    stopped,
    to_check,
)
from codsh.errors import InputError


def test_targets_parse() -> None:
    assert parse_target("ipfs") is None
    assert parse_target("dir:./out") == DirTarget("./out")
    assert parse_target("s3://b") == S3Target("b", "")
    assert parse_target("s3://b/") == S3Target("b", "")
    assert parse_target("s3://b/x/y") == S3Target("b", "x/y/")
    assert parse_target("s3://b/x/y/") == S3Target("b", "x/y/")
    assert str(parse_target("s3://b/x")) == "s3://b/x/"
    for bad in ("s3://", "s3:///p", "dir:", "ftp://x", "/tmp/out"):
        with pytest.raises(InputError):
            parse_target(bad)
    assert parse_targets(["ipfs", "dir:a", "dir:a", "s3://b/p"]) == [
        DirTarget("a"),
        S3Target("b", "p/"),
    ]


def test_names_of_a_tree_and_of_one_file() -> None:
    assert items([("a/b", "c1", 3)], "bafyroot", s3=True) == [Item("a/b", "c1", 3)]
    assert items([("", "c1", 3)], "bafyroot", s3=True) == [Item("output", "c1", 3)]
    assert items([("", "c1", 3)], "bafyroot/x/rain.csv", s3=True)[0].name == "rain.csv"


def test_odd_names() -> None:
    assert items([("a b/ünï 😀.txt", "c", 1)], "r", s3=True)[0].name == "a b/ünï 😀.txt"
    with pytest.raises(InputError, match="control characters"):
        items([("two\nlines", "c", 1)], "r", s3=True)
    assert items([("two\nlines", "c", 1)], "r", s3=False)[0].name == "two\nlines"  # a directory
    for escaping in ("../x", "a/../../x", "/etc/passwd", "a//b", "./a"):
        with pytest.raises(InputError, match="outside the target"):
            items([(escaping, "c", 1)], "r", s3=False)
    with pytest.raises(InputError, match="longer than an S3 key"):
        items([("é" * 600, "c", 1)], "r", s3=True)


def test_plan_uploads_what_is_missing_or_differs() -> None:
    target = S3Target("b", "p/")
    wanted = [Item("a", "ca", 1), Item("b", "cb", 2), Item("c", "cc", 3), Item("d", "cd", 4)]
    listing = {"p/a": 1, "p/b": 2, "p/c": 99, "p/other": 5}
    assert to_check(wanted, listing, target) == ["p/a", "p/b"]  # same size: worth a HEAD
    stored = {"p/a": Stored(1, "ca"), "p/b": Stored(2, None), "p/c": Stored(99)}
    with pytest.raises(InputError, match="2 object\\(s\\) with other content"):
        plan(wanted, stored, target, overwrite=False)
    result = plan(wanted, stored, target, overwrite=True)
    assert [i.name for i in result.upload] == ["b", "c", "d"]
    assert [i.name for i in result.same] == ["a"] and result.bytes == 9
    rerun = plan(wanted[:1] + wanted[3:], stored, target, overwrite=False)
    assert [i.name for i in rerun.upload] == ["d"]


def test_part_sizes_fit_s3_limits() -> None:
    assert part_size(10, 1) == MIN_PART
    assert part_size(100 * 1024**2, 8 * 1024**2) == 8 * 1024**2
    huge = 5 * 1024**4  # 5 TiB, S3's largest object
    assert -(-huge // part_size(huge, 8 * 1024**2)) <= 10_000


def test_multipart_etag_is_the_md5_of_the_part_md5s() -> None:
    parts = [hashlib.md5(b"a").digest(), hashlib.md5(b"b").digest()]
    assert multipart_etag(parts) == hashlib.md5(parts[0] + parts[1]).hexdigest() + "-2"


def test_the_stop_report_says_what_was_and_was_not_uploaded() -> None:
    report = Report("s3://b/p/", "bafyx", files=10, uploaded=["a", "b"], skipped=1)
    message, hint = stopped(report, [f"f{i}" for i in range(7)], "cannot reach S3")
    assert "2 of 10 files uploaded (1 were already there)" in message
    assert "not uploaded: 7 ('f0', 'f1', 'f2', 'f3', 'f4' and 2 more)" in message
    assert "no partial object" in message
    assert hint.endswith("codsh publish bafyx --to s3://b/p/")
    assert "could not be aborted" in stopped(report, [], "x", "could not be aborted")[0]
