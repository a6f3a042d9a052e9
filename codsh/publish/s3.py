"""s3://BUCKET/PREFIX: boto3 (credentials, region and AWS_ENDPOINT_URL as the AWS tools read them)
called in threads under one capacity limiter, many files at once.

A file up to the part size is read from kubo into memory and sent in one PUT; a larger one is a
multipart upload fed part by part from kubo's stream (memory: one part per file in flight, never
a copy on disk), aborted if anything fails, so no half object appears under its key. Every request
carries the MD5 of its body and the returned ETags are checked. Objects carry the CID they were
published from (metadata codsh-cid): a rerun skips those already there.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import trio

from codsh.core.publish import (
    Item,
    Report,
    S3Target,
    Stored,
    multipart_etag,
    part_size,
    plan,
    stopped,
    to_check,
)
from codsh.errors import CodshError, InfrastructureError, InputError, ServiceUnavailable, leaf
from codsh.ipfs.client import KuboClient

T = TypeVar("T")
FILES_AT_ONCE = 16  # also the threads: memory is at most this many parts
DEFAULT_PART = 8 * 1024**2
CID_KEY = "codsh-cid"
CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "Forbidden"}


def wanted_part_size() -> int:
    """CODSH_S3_PART_SIZE (bytes, at least 5 MiB), else 8 MiB: also the single-PUT threshold."""
    return int(os.environ.get("CODSH_S3_PART_SIZE", DEFAULT_PART))


class Bucket:
    """One boto3 client for one target; every call goes through the shared thread limiter."""

    def __init__(self, target: S3Target) -> None:
        self.target = target
        self.limiter = trio.CapacityLimiter(FILES_AT_ONCE)
        self.files = trio.Semaphore(FILES_AT_ONCE)  # files in flight: bounds the memory
        self.client: Any = None
        self.leftovers: list[str] = []  # multipart uploads that could not be aborted

    async def open(self) -> None:
        self.client = await trio.to_thread.run_sync(_client)

    @property
    def endpoint(self) -> str:
        return str(self.client.meta.endpoint_url) if self.client else "the AWS default endpoint"

    async def call(self, method: str, **kwargs: Any) -> Any:
        fn: Callable[[], Any] = partial(getattr(self.client, method), Bucket=self.target.bucket)
        return await trio.to_thread.run_sync(partial(fn, **kwargs), limiter=self.limiter)

    async def listing(self) -> dict[str, int]:
        """Key -> size of every object under the prefix."""

        def pages() -> dict[str, int]:
            paginator = self.client.get_paginator("list_objects_v2")
            found: dict[str, int] = {}
            for page in paginator.paginate(Bucket=self.target.bucket, Prefix=self.target.prefix):
                found.update({o["Key"]: int(o["Size"]) for o in page.get("Contents", [])})
            return found

        return await trio.to_thread.run_sync(pages, limiter=self.limiter)

    async def stored(self, listing: dict[str, int], keys: Sequence[str]) -> dict[str, Stored]:
        """What is under the prefix: sizes, and the CIDs of `keys` (one HEAD each, at once)."""
        found = {key: Stored(size) for key, size in listing.items()}

        async def head(key: str) -> None:
            meta = (await self.call("head_object", Key=key)).get("Metadata", {})
            found[key] = Stored(listing[key], meta.get(CID_KEY))

        async with trio.open_nursery() as nursery:
            for key in keys:
                nursery.start_soon(head, key)
        return found


def _client() -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        max_pool_connections=FILES_AT_ONCE + 2,
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        request_checksum_calculation="when_required",  # we send Content-MD5 ourselves
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client("s3", config=config)


async def check_bucket(target: S3Target) -> None:
    """The bucket exists and takes the credentials (a HEAD), or a clear error."""
    bucket = Bucket(target)
    try:
        await bucket.open()
        await bucket.call("head_bucket")
    except Exception as exc:
        raise explain(exc, bucket, "nothing was uploaded") from exc


async def publish_s3(
    ipfs: KuboClient, wanted: Sequence[Item], target: S3Target, overwrite: bool, report: Report
) -> None:
    """Upload what `target` lacks of `wanted`; on a failure part-way, say what was and was not."""
    bucket = Bucket(target)
    try:
        await bucket.open()
        listing = await bucket.listing()
        stored = await bucket.stored(listing, to_check(wanted, listing, target))
    except Exception as exc:
        raise explain(exc, bucket, "nothing was uploaded") from exc
    todo = plan(wanted, stored, target, overwrite)
    report.skipped = len(todo.same)
    wanted_part = wanted_part_size()
    try:
        async with trio.open_nursery() as nursery:
            for item in todo.upload:
                nursery.start_soon(_upload, ipfs, bucket, item, wanted_part, report)
    except BaseException as exc:
        cause = leaf(exc, CodshError) or _first(exc)
        if cause is None:  # cancelled: nothing to explain
            raise
        done = set(report.uploaded)
        pending = [i.name for i in todo.upload if i.name not in done]
        why = str(explain(cause, bucket, "").message) if isinstance(cause, Exception) else ""
        leftover = ""
        if bucket.leftovers:
            leftover = (
                f"the incomplete multipart upload(s) {', '.join(bucket.leftovers)} could not be "
                "aborted: no object shows them, but their parts use space until "
                "`aws s3api abort-multipart-upload` or a lifecycle rule removes them"
            )
        message, hint = stopped(report, pending, why, leftover)
        raise InfrastructureError(message, hint) from exc


def _first(exc: BaseException) -> BaseException | None:
    """The first error inside `exc` that is not a cancellation."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first(inner)
            if found is not None:
                return found
        return None
    return None if isinstance(exc, trio.Cancelled) else exc


async def _upload(
    ipfs: KuboClient, bucket: Bucket, item: Item, wanted_part: int, report: Report
) -> None:
    async with bucket.files:
        await _upload_one(ipfs, bucket, item, wanted_part)
    report.uploaded.append(item.name)
    report.bytes += item.size


async def _upload_one(ipfs: KuboClient, bucket: Bucket, item: Item, wanted_part: int) -> None:
    key = bucket.target.key(item.name)
    if item.size <= wanted_part:
        data = b"".join([chunk async for chunk in _checked(ipfs, item)])
        digest = hashlib.md5(data).digest()
        answer = await bucket.call(
            "put_object", Key=key, Body=data, ContentMD5=_b64(digest), Metadata={CID_KEY: item.cid}
        )
        _check_etag(answer, digest.hex(), key)
    else:
        await _multipart(ipfs, bucket, item, key, part_size(item.size, wanted_part))


async def _multipart(ipfs: KuboClient, bucket: Bucket, item: Item, key: str, size: int) -> None:
    started = await bucket.call("create_multipart_upload", Key=key, Metadata={CID_KEY: item.cid})
    upload_id = started["UploadId"]
    try:
        parts: list[dict[str, Any]] = []
        digests: list[bytes] = []
        async for number, body in _parts(_checked(ipfs, item), size):
            digest = hashlib.md5(body).digest()
            answer = await bucket.call(
                "upload_part",
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=body,
                ContentMD5=_b64(digest),
            )
            _check_etag(answer, digest.hex(), f"{key} part {number}")
            parts.append({"ETag": answer["ETag"], "PartNumber": number})
            digests.append(digest)
        answer = await bucket.call(
            "complete_multipart_upload",
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )
        _check_etag(answer, multipart_etag(digests), key)
    except BaseException:
        with trio.move_on_after(10, shield=True):
            bucket.leftovers.append(f"{key!r} ({upload_id})")
            try:
                await bucket.call("abort_multipart_upload", Key=key, UploadId=upload_id)
                bucket.leftovers.remove(f"{key!r} ({upload_id})")
            except Exception:
                pass  # reported: the upload stays listed in bucket.leftovers
        raise


async def _parts(chunks: AsyncIterator[bytes], size: int) -> AsyncIterator[tuple[int, bytes]]:
    """The stream cut into numbered parts of `size` bytes (the last one shorter)."""
    buffer = bytearray()
    number = 0
    async for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            number += 1
            yield number, bytes(buffer[:size])
            del buffer[:size]
    if buffer or number == 0:
        yield number + 1, bytes(buffer)


async def _checked(ipfs: KuboClient, item: Item) -> AsyncIterator[bytes]:
    """The file's bytes from kubo, checked to be all of them (kubo reports late errors only in
    trailers, so a short stream is otherwise silent)."""
    sent = 0
    async for chunk in ipfs.cat(item.cid):
        sent += len(chunk)
        yield chunk
    if sent != item.size:
        raise InfrastructureError(
            f"kubo sent {sent} of the {item.size} bytes of {item.name!r}",
            "check the kubo daemon's log, then publish again",
        )


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _check_etag(answer: dict[str, Any], expected: str, what: str) -> None:
    etag = str(answer.get("ETag", "")).strip('"')
    if etag and etag != expected:
        raise InfrastructureError(
            f"S3 stored {what} with ETag {etag}, expected {expected}: the bytes changed on the way",
            "publish again; if it persists, check the store",
        )


def explain(exc: BaseException, bucket: Bucket, nothing: str) -> CodshError:
    """A boto3 error as what happened and what to do (`nothing`: what was not done, if said)."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if isinstance(exc, CodshError):
        return exc
    target, where = bucket.target, bucket.endpoint
    done = f": {nothing}" if nothing else ""
    if isinstance(exc, NoCredentialsError):
        return InputError(
            f"no S3 credentials for {target}{done}",
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("NoSuchBucket", "404", "NotFound") and code != "NoSuchKey":
            return InputError(
                f"the bucket {target.bucket!r} does not exist at {where}{done}",
                "create it (e.g. `aws s3 mb s3://BUCKET`) or check the name and AWS_ENDPOINT_URL",
            )
        if code in CREDENTIAL_CODES or status == 403 or code == "403":
            return InputError(
                f"S3 at {where} refused the credentials for {target} ({code}){done}",
                "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and the bucket's policy",
            )
        return InfrastructureError(
            f"S3 at {where} answered {code}: {error.get('Message', exc)}{done}"
        )
    if isinstance(exc, BotoCoreError):
        return ServiceUnavailable(
            f"cannot reach S3 at {where} ({exc}){done}",
            "check AWS_ENDPOINT_URL and that the store is up",
        )
    return InfrastructureError(f"publishing to {target} failed: {exc}{done}")
