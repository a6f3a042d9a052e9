"""Publishing to a real S3 server (versitygw on loopback): many small files, multipart, odd
names, reruns, and the errors a user meets (wrong keys, a missing bucket)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest

from codsh.core.publish import Report, parse_target
from codsh.errors import InputError
from codsh.publish import publish
from tests.commands.cli import add
from tests.conftest import IpfsCall
from tests.publish.conftest import S3Server


def objects(s3: S3Server, bucket: str, prefix: str = "") -> dict[str, bytes]:
    client = s3.client()
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return found


def push(ipfs_call: IpfsCall, source: str, target: str, overwrite: bool = False) -> Report:
    parsed = parse_target(target)
    assert parsed is not None
    return ipfs_call(lambda ipfs: publish(ipfs, source, parsed, overwrite))


def test_many_small_files_then_a_rerun_uploads_nothing(
    ipfs_call: IpfsCall, env: dict[str, str], s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    tree: dict[str, bytes | None] = {
        f"d{i % 5}/f{i:03}.txt": f"line {i}\n".encode() for i in range(300)
    }
    cid = add(env, tmp_path / "small", tree)
    started = time.monotonic()
    report = push(ipfs_call, cid, f"s3://{bucket}/runs/one")
    seconds = time.monotonic() - started
    assert (len(report.uploaded), report.skipped, report.files) == (300, 0, 300)
    assert objects(s3, bucket) == {f"runs/one/{k}": v for k, v in tree.items() if v is not None}
    print(f"300 small objects in {seconds:.2f} s")
    again = push(ipfs_call, cid, f"s3://{bucket}/runs/one")
    assert (len(again.uploaded), again.skipped) == (0, 300)


def test_rerun_uploads_only_what_is_missing(
    ipfs_call: IpfsCall, env: dict[str, str], s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    tree: dict[str, bytes | None] = {f"f{i}": bytes([i]) * (i + 1) for i in range(10)}
    cid = add(env, tmp_path / "t", tree)
    push(ipfs_call, cid, f"s3://{bucket}/p")
    client = s3.client()
    client.delete_object(Bucket=bucket, Key="p/f3")
    client.delete_object(Bucket=bucket, Key="p/f7")
    report = push(ipfs_call, cid, f"s3://{bucket}/p/")
    assert sorted(report.uploaded) == ["f3", "f7"] and report.skipped == 8
    assert objects(s3, bucket)["p/f3"] == bytes([3]) * 4


def test_other_content_is_refused_unless_overwrite(
    ipfs_call: IpfsCall, env: dict[str, str], s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    cid = add(env, tmp_path / "t", {"a": b"new bytes", "b": b"same"})
    client = s3.client()
    client.put_object(Bucket=bucket, Key="x/a", Body=b"old bytes")  # same size, someone else's
    with pytest.raises(InputError, match="other content") as caught:
        push(ipfs_call, cid, f"s3://{bucket}/x")
    assert "nothing was uploaded" in str(caught.value)
    assert objects(s3, bucket) == {"x/a": b"old bytes"}
    report = push(ipfs_call, cid, f"s3://{bucket}/x", overwrite=True)
    assert sorted(report.uploaded) == ["a", "b"]
    assert objects(s3, bucket) == {"x/a": b"new bytes", "x/b": b"same"}


def test_a_file_over_the_part_size_goes_in_parts(
    ipfs_call: IpfsCall,
    env: dict[str, str],
    s3: S3Server,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CODSH_S3_PART_SIZE", str(5 * 1024**2))
    big = hashlib.sha256(b"x").digest() * (12 * 1024**2 // 32 + 7)  # 12 MiB + 224 B: 3 parts
    cid = add(env, tmp_path / "big", {"big.bin": big, "small": b"s"})
    report = push(ipfs_call, cid, f"s3://{bucket}")
    assert sorted(report.uploaded) == ["big.bin", "small"]
    head: dict[str, Any] = s3.client().head_object(Bucket=bucket, Key="big.bin")
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]  # a multipart object
    assert head["ContentLength"] == len(big)
    assert objects(s3, bucket)["big.bin"] == big
    again = push(ipfs_call, cid, f"s3://{bucket}")
    assert again.skipped == 2 and not again.uploaded


def test_odd_names_spaces_and_unicode_kept_newlines_refused(
    ipfs_call: IpfsCall, env: dict[str, str], s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    tree: dict[str, bytes | None] = {"a b/c d.txt": b"1", "ünï/😀 ç.csv": b"2", "q?#%&+=.txt": b"3"}
    cid = add(env, tmp_path / "odd", tree)
    push(ipfs_call, cid, f"s3://{bucket}/o")
    assert objects(s3, bucket) == {f"o/{k}": v for k, v in tree.items() if v is not None}
    bad = add(env, tmp_path / "bad", {"ok": b"1", "two\nlines": b"2"})
    with pytest.raises(InputError, match="control characters") as caught:
        push(ipfs_call, bad, f"s3://{bucket}/bad")
    assert "'two\\nlines'" in str(caught.value) and "nothing was uploaded" in str(caught.value)
    assert objects(s3, bucket, "bad/") == {}


def test_wrong_credentials_say_so_and_upload_nothing(
    ipfs_call: IpfsCall,
    env: dict[str, str],
    s3: S3Server,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cid = add(env, tmp_path / "t", {"a": b"1"})
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(InputError, match="refused the credentials") as caught:
        push(ipfs_call, cid, f"s3://{bucket}/p")
    assert "nothing was uploaded" in str(caught.value)
    assert "AWS_SECRET_ACCESS_KEY" in caught.value.hint
    assert objects(s3, bucket) == {}


def test_a_missing_bucket_says_so(
    ipfs_call: IpfsCall, env: dict[str, str], s3_env: dict[str, str], tmp_path: Path
) -> None:
    cid = add(env, tmp_path / "t", {"a": b"1"})
    with pytest.raises(InputError, match="'no-such-bucket' does not exist") as caught:
        push(ipfs_call, cid, "s3://no-such-bucket/p")
    assert s3_env["AWS_ENDPOINT_URL"] in str(caught.value)


def test_the_server_dying_mid_upload_leaves_no_half_object_and_says_what_is_missing(
    ipfs_call: IpfsCall,
    env: dict[str, str],
    s3: S3Server,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CODSH_S3_PART_SIZE", str(5 * 1024**2))
    big = hashlib.sha256(b"y").digest() * (40 * 1024**2 // 32)  # 8 parts
    tree: dict[str, bytes | None] = {f"s/{i:04}": b"%d\n" % i for i in range(600)}
    cid = add(env, tmp_path / "t", {"a-big.bin": big, **tree})
    target = parse_target(f"s3://{bucket}/p")
    assert target is not None
    client = s3.client()

    async def publish_and_kill(ipfs: Any) -> BaseException:
        import trio

        async def killer() -> None:
            while True:  # a multipart upload in flight and some small files done
                found = await trio.to_thread.run_sync(
                    lambda: client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
                )
                if found and len(list((s3.root / bucket / "p" / "s").glob("*"))) >= 20:
                    s3.kill()
                    return
                await trio.sleep(0.01)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(killer)
            try:
                await publish(ipfs, cid, target)
            except Exception as exc:
                return exc
        raise AssertionError("the publish finished before the server was killed")

    error = ipfs_call(publish_and_kill, deadline=120)
    message = str(error)
    assert "stopped: cannot reach S3" in message, message
    assert "of 601 files uploaded" in message and "not uploaded:" in message
    assert "a rerun uploads only what is missing" in message
    assert "'a-big.bin'" in message  # not uploaded, and named
    assert "could not be aborted" in message  # the server was gone: the upload is reported
    print(message)
    s3.start()
    there = objects(s3, bucket)
    assert "p/a-big.bin" not in there  # no half object under its key
    assert all(there[f"p/{k}"] == tree[k] for k in (k.removeprefix("p/") for k in there))
    assert 20 <= len(there) < 601
    report = push(ipfs_call, cid, f"s3://{bucket}/p")
    assert report.skipped == len(there) and len(report.uploaded) == 601 - len(there)
    assert objects(s3, bucket)["p/a-big.bin"] == big
