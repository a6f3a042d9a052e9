"""Streaming multipart/form-data for kubo's `add`: bodies are produced chunk by chunk, never held whole.

httpx's `files=` reads every file synchronously into the request, which would block trio and hold
gigabytes in memory; this encoder yields the framing around async content streams instead.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote

CRLF = b"\r\n"


@dataclass(frozen=True)
class AddEntry:
    """One part of an add request: a directory when `content` is None, else a file."""

    path: str
    content: AsyncIterable[bytes] | None = None


class Tally:
    """Files and content bytes encoded so far (a progress bar's numbers; an error's too).

    `on_file(files, bytes)` runs after each file part: encoded is about sent, as the body is
    read only a few chunks ahead of the socket."""

    def __init__(self, on_file: Callable[[int, int], None] | None = None) -> None:
        self.files = 0
        self.bytes = 0
        self._on_file = on_file

    def file_done(self) -> None:
        self.files += 1
        if self._on_file is not None:
            self._on_file(self.files, self.bytes)


def new_boundary() -> str:
    return "codsh" + secrets.token_hex(16)


def content_type(boundary: str) -> str:
    return f"multipart/form-data; boundary={boundary}"


def part_header(boundary: str, path: str, is_directory: bool) -> bytes:
    """The delimiter and headers that open one part; the path is percent-encoded (kubo unescapes it).

    Encoding every byte outside [A-Za-z0-9_.-~] keeps spaces, quotes, newlines and unicode intact.
    """
    kind = "application/x-directory" if is_directory else "application/octet-stream"
    filename = quote(path, safe="")
    return (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {kind}\r\n\r\n"
    ).encode("ascii")


def closing(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode("ascii")


async def encode(
    boundary: str,
    entries: Iterable[AddEntry] | AsyncIterable[AddEntry],
    tally: Tally | None = None,
) -> AsyncIterator[bytes]:
    """Yield the multipart body for `entries` in order, streaming each file's content.

    Framing is held back and sent with the next content chunk, so a small file costs one socket
    write instead of three (header, content, delimiter).
    """
    tally = tally or Tally()
    pending = b""
    async for entry in _aiter(entries):
        pending += part_header(boundary, entry.path, entry.content is None)
        if entry.content is not None:
            async for chunk in entry.content:
                if chunk:
                    tally.bytes += len(chunk)
                    yield pending + chunk if pending else chunk
                    pending = b""
            tally.file_done()
        pending += CRLF
    yield pending + closing(boundary)


async def _aiter(items: Iterable[AddEntry] | AsyncIterable[AddEntry]) -> AsyncIterator[AddEntry]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
