"""An HTTP/1.1 answer parsed from bytes fed in any pieces (no I/O: the socket is reading.py's).

Why not h11 here: kubo sends a file's bytes in ~4 KiB chunks, and h11 hands each on as an event
of its own (a 64 MiB file was 17,000 events, each a few layers of async generators deep, the
largest part of a shard's time). This decoder returns all the body bytes one feed holds as one
piece, so the file moves on in pieces as large as the socket reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_HEAD = 64 * 1024  # bytes of status line and headers
MAX_LINE = 4096  # bytes of a chunk-size line or a trailer
HEX = b"0123456789abcdefABCDEF"


class ProtocolError(Exception):
    """The bytes are not an HTTP/1.1 answer codsh can read."""


@dataclass
class Head:
    status: int
    headers: dict[str, str]  # names in lower case
    version: str = "HTTP/1.1"

    @property
    def keep_alive(self) -> bool:
        """Whether the server keeps the connection open after this answer (HTTP/1.0 does not
        unless it says so)."""
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return connection == "keep-alive"
        return connection != "close"


@dataclass
class Answer:
    """Feed it what the socket gives (`feed`): the head once it is whole (`head`), then the body
    as it comes; `done` once the body has ended (its trailers then in `trailers`)."""

    head: Head | None = None
    done: bool = False
    trailers: dict[str, str] = field(default_factory=dict)
    _buffer: bytearray = field(default_factory=bytearray)
    _chunked: bool = False
    _left: int = -1  # body bytes still to come (the current chunk's when chunked; -1: to close)
    _state: str = "head"  # head, size, data, crlf, trailers

    def feed(self, data: bytes) -> bytes:
        """Take `data`; the body bytes it completes, as one piece (b"" if none)."""
        if self._buffer:  # only a part of a head or of a chunk-size line is ever kept
            data, self._buffer = bytes(self._buffer) + data, bytearray()
        if self._state == "head":
            data = self._read_head(data)
            if self._state == "head":
                return b""
        if not self._chunked:
            return self._plain(data)
        pieces: list[bytes] = []
        at = self._decode(data, pieces)
        self._buffer += data[at:]
        return b"".join(pieces)

    @property
    def reusable(self) -> bool:
        """The answer has ended and its connection may carry the next request."""
        ended_by_close = not self._chunked and self._left < 0
        return self.done and self.head is not None and self.head.keep_alive and not ended_by_close

    def closed(self) -> None:
        """The server closed the connection: fine only for a body that runs to the close."""
        if self.done:
            return
        if self.head is not None and not self._chunked and self._left < 0:
            self.done = True
            return
        raise ProtocolError("the connection closed before the answer ended")

    def _read_head(self, data: bytes) -> bytes:
        """Parse the head once `data` holds all of it; what follows it."""
        end = data.find(b"\r\n\r\n")
        if end < 0 or end > MAX_HEAD:
            if len(data) > MAX_HEAD:
                raise ProtocolError("the answer's head is too large")
            self._buffer += data
            return b""
        lines = data[:end].decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not _decimal(code) or len(code) != 3:
            raise ProtocolError(f"not an HTTP/1.1 answer: {lines[0][:80]!r}")
        headers = _fields(lines[1:])
        self.head = Head(int(code), headers, version)
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self._state = "size" if self._chunked else "data"
        if not self._chunked and "content-length" in headers:
            length = headers["content-length"].strip()
            if not _decimal(length):
                raise ProtocolError(f"a bad Content-Length {length!r}")
            self._left = int(length)
        elif not self._chunked and (self.head.status in (204, 304) or self.head.status < 200):
            self._left = 0
        self.done = self._left == 0
        return data[end + 4 :]

    def _plain(self, data: bytes) -> bytes:
        if self._left < 0:
            return data
        if len(data) > self._left:
            raise ProtocolError("the server sent more than its Content-Length")
        self._left -= len(data)
        self.done = self._left == 0
        return data

    def _decode(self, data: bytes, pieces: list[bytes]) -> int:
        """Decode `data` into `pieces`; how many of its bytes were used (the rest is the start
        of a line)."""
        at, size = 0, len(data)
        with memoryview(data) as view:
            while not self.done:
                if self._state == "data":
                    take = min(self._left, size - at)
                    if not take:
                        return at
                    pieces.append(data if take == size else bytes(view[at : at + take]))
                    at, self._left = at + take, self._left - take
                    if not self._left:
                        self._state = "crlf"
                elif self._state == "crlf":
                    if size - at < 2:
                        return at
                    if data[at : at + 2] != b"\r\n":
                        raise ProtocolError("a chunk does not end with CRLF")
                    at, self._state = at + 2, "size"
                else:
                    end = data.find(b"\r\n", at)
                    if end < 0:
                        if size - at > MAX_LINE:
                            raise ProtocolError("a chunk-size line is too long")
                        return at
                    line, at = data[at:end], end + 2
                    if self._state == "size":
                        self._size(line)
                    elif line:
                        self.trailers.update(_fields([line.decode("latin-1")]))
                    else:
                        self.done = True
        if at < size:
            raise ProtocolError("the server sent bytes after its answer")
        return at

    def _size(self, line: bytes) -> None:
        digits = line.partition(b";")[0].strip()
        if not digits or digits.strip(HEX):
            raise ProtocolError(f"a bad chunk size {line[:40]!r}")
        size = int(digits, 16)
        if size:
            self._left, self._state = size, "data"
        else:
            self._state = "trailers"


def _decimal(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _fields(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise ProtocolError(f"a malformed header {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return headers
