"""codsh.ipfs.multipart: exact part framing and a streamed body that parses back to its entries."""

from __future__ import annotations

import email.policy
from collections.abc import AsyncIterator
from email.parser import BytesParser
from urllib.parse import unquote

import trio

from codsh.ipfs.multipart import (
    CRLF,
    AddEntry,
    closing,
    content_type,
    encode,
    new_boundary,
    part_header,
)

BOUNDARY = "codshTESTBOUNDARY"


def header_for(filename: str, kind: str) -> bytes:
    return (
        b"--codshTESTBOUNDARY\r\n"
        b'Content-Disposition: form-data; name="file"; filename="' + filename.encode() + b'"\r\n'
        b"Content-Type: " + kind.encode() + b"\r\n\r\n"
    )


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        await trio.lowlevel.checkpoint()
        yield part


def collect(entries: object) -> list[bytes]:
    async def run() -> list[bytes]:
        return [chunk async for chunk in encode(BOUNDARY, entries)]  # type: ignore[arg-type]

    return trio.run(run)


# -- part_header -------------------------------------------------------------------------------


def test_part_header_exact_bytes_for_plain_file() -> None:
    assert part_header(BOUNDARY, "data.csv", False) == (
        b"--codshTESTBOUNDARY\r\n"
        b'Content-Disposition: form-data; name="file"; filename="data.csv"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )


def test_part_header_directory_uses_x_directory() -> None:
    assert part_header(BOUNDARY, "logs", True) == header_for("logs", "application/x-directory")


def test_part_header_percent_encodes_space() -> None:
    assert part_header(BOUNDARY, "my file.txt", False) == header_for(
        "my%20file.txt", "application/octet-stream"
    )


def test_part_header_percent_encodes_double_and_single_quotes() -> None:
    assert part_header(BOUNDARY, "a\"b'c", False) == header_for(
        "a%22b%27c", "application/octet-stream"
    )


def test_part_header_percent_encodes_newlines() -> None:
    header = part_header(BOUNDARY, "line\r\nbreak\n", False)
    assert header == header_for("line%0D%0Abreak%0A", "application/octet-stream")
    # the only CRLFs are the framing ones: delimiter, two header lines, blank line
    assert header.count(b"\r\n") == 4


def test_part_header_percent_encodes_unicode_as_utf8() -> None:
    assert part_header(BOUNDARY, "café/日本.txt", False) == header_for(
        "caf%C3%A9%2F%E6%97%A5%E6%9C%AC.txt", "application/octet-stream"
    )


def test_part_header_percent_encodes_plus_percent_and_slash() -> None:
    # '+' must not survive raw: a query-style unescape would turn it into a space
    assert part_header(BOUNDARY, "a+b%20c/d", False) == header_for(
        "a%2Bb%2520c%2Fd", "application/octet-stream"
    )


def test_part_header_keeps_unreserved_characters() -> None:
    name = "AZaz09_.-~"
    assert part_header(BOUNDARY, name, False) == header_for(name, "application/octet-stream")


def test_part_header_is_pure_ascii_and_roundtrips_through_unquote() -> None:
    tricky = 'dir with space/"quoted"\n+%é🎉'
    header = part_header(BOUNDARY, tricky, False)
    header.decode("ascii")  # raises if any raw non-ASCII byte leaked through
    filename = header.split(b'filename="', 1)[1].split(b'"', 1)[0].decode("ascii")
    assert unquote(filename) == tricky


# -- boundary helpers --------------------------------------------------------------------------


def test_closing_delimiter() -> None:
    assert closing(BOUNDARY) == b"--codshTESTBOUNDARY--\r\n"


def test_content_type_names_the_boundary() -> None:
    assert content_type("xyz") == "multipart/form-data; boundary=xyz"


def test_new_boundary_is_fresh_and_token_safe() -> None:
    first, second = new_boundary(), new_boundary()
    assert first != second
    assert first.startswith("codsh")
    assert len(first) == len("codsh") + 32
    assert all(c.isalnum() for c in first)


# -- encode ------------------------------------------------------------------------------------


def test_encode_yields_exact_chunk_sequence() -> None:
    entries = [
        AddEntry("dir"),
        AddEntry("dir/a.txt", chunks(b"ab", b"", b"cd")),
        AddEntry("dir/empty", chunks()),
    ]
    # framing rides along with the next content chunk: one write per chunk, not three per part
    assert collect(entries) == [
        header_for("dir", "application/x-directory")
        + CRLF
        + header_for("dir%2Fa.txt", "application/octet-stream")
        + b"ab",
        b"cd",
        CRLF
        + header_for("dir%2Fempty", "application/octet-stream")
        + CRLF
        + b"--codshTESTBOUNDARY--\r\n",
    ]


def test_encode_skips_every_empty_chunk() -> None:
    out = collect([AddEntry("f", chunks(b"", b"", b"x", b"", b"y", b""))])
    assert b"" not in out
    assert out[0].endswith(b"\r\n\r\nx") and out[1] == b"y"


def test_encode_of_no_entries_is_just_the_closing_delimiter() -> None:
    assert collect([]) == [b"--codshTESTBOUNDARY--\r\n"]


def test_encode_accepts_an_async_iterable_of_entries() -> None:
    async def entries() -> AsyncIterator[AddEntry]:
        yield AddEntry("d")
        yield AddEntry("d/f", chunks(b"hi"))

    assert collect(entries()) == collect([AddEntry("d"), AddEntry("d/f", chunks(b"hi"))])


def test_encode_closing_delimiter_is_last_and_only_once() -> None:
    out = collect([AddEntry("a", chunks(b"--codshTESTBOUNDARY")), AddEntry("b")])
    assert out[-1].endswith(closing(BOUNDARY))
    assert b"".join(out).count(closing(BOUNDARY)) == 1


def test_encode_streams_lazily_without_reading_content_ahead() -> None:
    """Content is pulled one chunk at a time, each handed out before the next is read."""
    events: list[str] = []

    async def tracked() -> AsyncIterator[bytes]:
        for piece in (b"one", b"two"):
            events.append(f"read {piece.decode()}")
            yield piece

    async def run() -> None:
        body = encode(BOUNDARY, [AddEntry("f", tracked())])
        async for chunk in body:
            events.append(f"got {chunk[:2]!r}")

    trio.run(run)
    assert events == [
        "read one",
        "got b'--'",  # the header, sent with the first chunk
        "read two",
        "got b'tw'",
        "got b'\\r\\n'",  # the part's end, sent with the closing delimiter
    ]


def parse_with_email(body: bytes, boundary: str) -> list[tuple[str, str, bytes]]:
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type(boundary)}\r\n\r\n".encode() + body
    )
    assert message.is_multipart()
    assert not message.defects
    parts = []
    for part in message.iter_parts():
        assert part.get_param("name", header="content-disposition") == "file"
        filename = part.get_param("filename", header="content-disposition")
        assert isinstance(filename, str)
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        parts.append((unquote(filename), part.get_content_type(), payload))
    return parts


def parse_by_hand(body: bytes, boundary: str) -> list[tuple[str, str, bytes]]:
    delimiter = b"--" + boundary.encode()
    assert body.startswith(delimiter + b"\r\n")
    assert body.endswith(b"\r\n" + delimiter + b"--\r\n")
    inner = body[len(delimiter) + 2 : -len(delimiter) - 6]
    parts = []
    for raw in inner.split(b"\r\n" + delimiter + b"\r\n"):
        head, _, content = raw.partition(b"\r\n\r\n")
        disposition, kind = head.decode("ascii").split("\r\n")
        filename = disposition.split('filename="', 1)[1].rstrip('"')
        parts.append((unquote(filename), kind.removeprefix("Content-Type: "), content))
    return parts


MIXED_PATHS = {
    "top": None,
    "top/plain.txt": [b"hello\n", b"", b"world\n"],
    'top/with space & "quotes"': [b"a", b"b", b"c"],
    "top/sub dir": None,
    "top/sub dir/caf\u00e9+100%.bin": [bytes(range(256)), b"\r\n--not a boundary\r\n", b"\x00"],
    "top/sub dir/new\nline": [b""],
    "top/empty.txt": [],
    "top/crlf.txt": [b"x\r\n", b"\r\n", b"\r\n"],
}


def mixed_entries() -> list[AddEntry]:
    return [
        AddEntry(path) if parts is None else AddEntry(path, chunks(*parts))
        for path, parts in MIXED_PATHS.items()
    ]


def expected_parts() -> list[tuple[str, str, bytes]]:
    return [
        (path, "application/x-directory", b"")
        if parts is None
        else (path, "application/octet-stream", b"".join(parts))
        for path, parts in MIXED_PATHS.items()
    ]


def test_encode_mixed_body_parses_back_with_email_package() -> None:
    boundary = new_boundary()

    async def run() -> bytes:
        return b"".join([c async for c in encode(boundary, mixed_entries())])

    body = trio.run(run)
    assert parse_with_email(body, boundary) == expected_parts()


def test_encode_mixed_body_parses_back_by_hand() -> None:
    body = b"".join(collect(mixed_entries()))
    assert parse_by_hand(body, BOUNDARY) == expected_parts()


def test_encode_body_has_one_header_per_entry_in_order() -> None:
    body = b"".join(collect(mixed_entries()))
    assert body.count(b"--" + BOUNDARY.encode() + b"\r\n") == len(MIXED_PATHS)
    positions = [
        body.index(part_header(BOUNDARY, path, parts is None))
        for path, parts in MIXED_PATHS.items()
    ]
    assert positions == sorted(positions)
    assert positions[0] == 0
