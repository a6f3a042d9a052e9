"""codsh.ipfs.chunked: an HTTP/1.1 answer fed in any pieces gives the same body, trailers and end,
each feed's body bytes come back as one piece, and malformed answers are a ProtocolError."""

from __future__ import annotations

import pytest

from codsh.ipfs.chunked import MAX_HEAD, Answer, ProtocolError

HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
    b"Transfer-Encoding: chunked\r\nTrailer: X-Stream-Error\r\n\r\n"
)
CHUNKS = (
    b"4;x=y\r\nWiki\r\n"
    b"5\r\npedia\r\n"
    b'E ; name="v"\r\n in\r\n\r\nchunks.\r\n'  # the data holds a CRLF of its own
    b"1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
    b"0\r\nX-Stream-Error: context canceled\r\nX-Other:  1 \r\n\r\n"
)
ANSWER = HEAD + CHUNKS
BODY = b"Wikipedia in\r\n\r\nchunks.abcdefghijklmnopqrstuvwxyz"
TRAILERS = {"x-stream-error": "context canceled", "x-other": "1"}


def fed(*pieces: bytes) -> tuple[Answer, bytes]:
    answer = Answer()
    return answer, b"".join(answer.feed(piece) for piece in pieces)


def plain(headers: bytes, status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 " + status + b"\r\n" + headers + b"\r\n"


def test_a_chunked_answer_fed_whole_gives_its_body_and_trailers() -> None:
    answer, body = fed(ANSWER)
    assert body == BODY
    assert answer.done and answer.trailers == TRAILERS
    assert answer.head is not None and answer.head.status == 200
    assert answer.head.headers["transfer-encoding"] == "chunked"
    assert answer.head.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize("cut", range(len(ANSWER) + 1))
def test_a_chunked_answer_cut_at_any_byte_gives_the_same_body(cut: int) -> None:
    answer = Answer()
    first = answer.feed(ANSWER[:cut])
    assert answer.done is (cut == len(ANSWER))
    assert first == BODY[: len(first)]  # only body bytes, in order
    assert first + answer.feed(ANSWER[cut:]) == BODY
    assert answer.done and answer.trailers == TRAILERS
    assert answer.head is not None and answer.head.status == 200


def test_a_chunked_answer_fed_byte_by_byte_ends_only_at_its_last_byte() -> None:
    answer, body = fed(*(ANSWER[at : at + 1] for at in range(len(ANSWER) - 1)))
    assert body == BODY and not answer.done
    assert answer.feed(ANSWER[-1:]) == b""
    assert answer.done and answer.trailers == TRAILERS


def test_one_feed_of_many_chunks_returns_their_concatenation_as_one_piece() -> None:
    parts = [bytes([65 + n % 26]) * (n + 1) for n in range(50)]
    answer = Answer()
    assert answer.feed(HEAD) == b""
    piece = answer.feed(b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts))
    assert type(piece) is bytes and piece == b"".join(parts)
    assert not answer.done
    assert answer.feed(b"0\r\n\r\n") == b"" and answer.done and answer.trailers == {}


def test_the_head_and_the_first_chunks_in_one_feed_return_those_chunks() -> None:
    answer, body = fed(HEAD + b"3\r\nabc\r\n2\r\nde\r\n1")
    assert body == b"abcde" and answer.head is not None and not answer.done
    assert answer.feed(b"\r\nf\r\n0\r\n\r\n") == b"f" and answer.done


def test_a_content_length_body_ends_at_its_length() -> None:
    answer = Answer()
    assert answer.feed(plain(b"Content-Length: 11\r\n")[:-1]) == b"" and answer.head is None
    assert answer.feed(b"\nhello") == b"hello"
    assert answer.head is not None and answer.head.headers["content-length"] == "11"
    assert not answer.done
    assert answer.feed(b" world") == b" world" and answer.done
    assert answer.trailers == {}


@pytest.mark.parametrize(
    "head", [plain(b"Content-Length: 0\r\n"), plain(b"", b"204 No Content"), plain(b"", b"304 X")]
)
def test_an_answer_without_a_body_is_done_with_its_head(head: bytes) -> None:
    answer, body = fed(head)
    assert body == b"" and answer.done


def test_a_body_without_length_runs_to_the_close() -> None:
    answer, body = fed(plain(b"Content-Type: text/plain\r\n") + b"abc", b"def", b"")
    assert body == b"abcdef" and not answer.done
    answer.closed()
    assert answer.done


def test_keep_alive_unless_the_answer_says_connection_close() -> None:
    kept, _ = fed(plain(b"Content-Length: 0\r\n"))
    closing, _ = fed(plain(b"Connection: Close\r\nContent-Length: 0\r\n"))
    assert kept.head is not None and kept.head.keep_alive is True
    assert closing.head is not None and closing.head.keep_alive is False


def test_only_an_answer_that_ended_on_a_kept_connection_is_reusable() -> None:
    whole, _ = fed(ANSWER)
    partial, _ = fed(HEAD + CHUNKS[:20])
    to_close, _ = fed(plain(b"") + b"abc")
    to_close.closed()
    old, _ = fed(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    old_kept, _ = fed(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
    assert whole.reusable and old_kept.reusable
    assert not partial.reusable and not to_close.reusable and not old.reusable


def test_a_close_after_a_whole_answer_is_fine() -> None:
    answer, _ = fed(ANSWER)
    answer.closed()
    assert answer.done


@pytest.mark.parametrize(
    "start",
    [b"", b"HTTP/1.1 200 OK\r\n", HEAD + CHUNKS[:20], plain(b"Content-Length: 5\r\n") + b"abc"],
)
def test_a_close_before_the_answer_ends_is_a_protocol_error(start: bytes) -> None:
    answer, _ = fed(start)
    with pytest.raises(ProtocolError, match="closed before"):
        answer.closed()


@pytest.mark.parametrize("size", [b"zz", b"", b"-5", b"4x", b";x=y"])
def test_a_bad_chunk_size_is_a_protocol_error(size: bytes) -> None:
    with pytest.raises(ProtocolError, match="bad chunk size"):
        fed(HEAD + size + b"\r\nWiki\r\n0\r\n\r\n")


@pytest.mark.parametrize("after", [b"XY", b"\n", b"\rX", b"W\r\n"])
def test_a_chunk_without_its_crlf_is_a_protocol_error(after: bytes) -> None:
    with pytest.raises(ProtocolError, match="CRLF"):
        fed(HEAD + b"3\r\nabc", after + b"0\r\n\r\n")


def test_bytes_after_a_chunked_answer_are_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="after its answer"):
        fed(ANSWER + b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(ProtocolError, match="after its answer"):
        fed(ANSWER, b"x")


def test_bytes_beyond_the_content_length_are_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="more than its Content-Length"):
        fed(plain(b"Content-Length: 3\r\n") + b"abcd")
    with pytest.raises(ProtocolError, match="more than its Content-Length"):
        fed(plain(b"Content-Length: 3\r\n") + b"ab", b"cd")


@pytest.mark.parametrize("length", [b"abc", b"-1", b"", b"1.5", b"0x10"])
def test_a_bad_content_length_is_a_protocol_error(length: bytes) -> None:
    with pytest.raises(ProtocolError, match="bad Content-Length"):
        fed(plain(b"Content-Length: " + length + b"\r\n"))


def test_a_head_larger_than_the_limit_is_a_protocol_error() -> None:
    answer = Answer()
    answer.feed(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (MAX_HEAD - 100))  # within the limit
    with pytest.raises(ProtocolError, match="too large"):
        answer.feed(b"a" * 200)


def test_a_head_past_the_limit_is_refused_even_when_it_comes_whole() -> None:
    with pytest.raises(ProtocolError, match="too large"):
        fed(plain(b"X-Big: " + b"a" * MAX_HEAD + b"\r\nContent-Length: 0\r\n"))


def test_a_chunk_size_line_that_never_ends_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="too long"):
        fed(HEAD + b"4;" + b"x" * 5000)


@pytest.mark.parametrize(
    "head", [b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 OK\r\n\r\n", plain(b"no colon here\r\n")]
)
def test_an_answer_that_is_not_http_is_a_protocol_error(head: bytes) -> None:
    with pytest.raises(ProtocolError):
        fed(head)


@pytest.mark.parametrize("size", [b"0x4", b"+4", b"0_4"])
def test_a_chunk_size_that_is_not_only_hex_digits_is_a_protocol_error(size: bytes) -> None:
    with pytest.raises(ProtocolError, match="bad chunk size"):
        fed(HEAD + size + b"\r\nWiki\r\n0\r\n\r\n")


@pytest.mark.parametrize("head", [plain(b"Content-Length: \xb2\r\n"), plain(b"", b"2\xb20 OK")])
def test_a_non_ascii_digit_is_a_protocol_error_not_a_value_error(head: bytes) -> None:
    with pytest.raises(ProtocolError):
        fed(head)
