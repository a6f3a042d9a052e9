"""UnixFS and dag-pb node encoding, and CIDs computed locally: pure functions, no I/O.

Merging outputs by reference means writing small dag-pb nodes that link existing blocks. Encoding them
here (instead of asking kubo to) lets the merge layout be computed and unit-tested without a daemon;
kubo only stores the bytes and must answer with the CID we computed.
"""

from __future__ import annotations

import base64
import hashlib
import string
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from codsh.errors import InputError

if TYPE_CHECKING:  # multiformats costs ~30 ms to import: only CID parsing needs it
    from multiformats import CID

DIRECTORY = 1
FILE = 2
HAMT_SHARD = 5
MAX_BLOCK_SIZE = (
    1024 * 1024
)  # kubo refuses larger blocks over bitswap; directories past it need HAMT


_ONE_BYTE = [bytes((i,)) for i in range(128)]  # most varints: tags, short lengths, small sizes


def varint(value: int) -> bytes:
    if 0 <= value < 128:
        return _ONE_BYTE[value]
    if value < 0:
        raise ValueError("varint of a negative number")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(data: bytes, pos: int = 0) -> tuple[int, int]:
    """(value, position after it); ValueError when `data` ends inside the varint."""
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def _field_bytes(number: int, value: bytes) -> bytes:
    return varint((number << 3) | 2) + varint(len(value)) + value


def unixfs_file_data(blocksizes: list[int]) -> bytes:
    """UnixFS Data of a file node whose children hold `blocksizes` bytes each, in order."""
    out = _field_varint(1, FILE) + _field_varint(3, sum(blocksizes))
    return out + b"".join(_field_varint(4, size) for size in blocksizes)


def unixfs_directory_data() -> bytes:
    return _field_varint(1, DIRECTORY)


def unixfs_type(data: bytes) -> int | None:
    """The Type of UnixFS Data (DIRECTORY, FILE, HAMT_SHARD...); None when absent or malformed."""
    pos = 0
    try:
        while pos < len(data):
            key, pos = read_varint(data, pos)
            if key == 1 << 3:  # field 1, varint
                return read_varint(data, pos)[0]
            if key & 7 == 0:
                pos = read_varint(data, pos)[1]
            elif key & 7 == 2:
                length, pos = read_varint(data, pos)
                pos += length
            else:
                return None
    except ValueError:
        return None
    return None


@dataclass(frozen=True)
class Link:
    """A dag-pb link: the child's CID, its name in a directory ('' in a file) and its DAG size."""

    cid: str
    name: str
    tsize: int


def encode_node(links: list[Link], data: bytes) -> bytes:
    """dag-pb PBNode bytes: links first, then data, as the dag-pb spec orders them."""
    out = bytearray()
    for link in links:
        body = (
            _field_bytes(1, cid_bytes(link.cid))
            + _field_bytes(2, link.name.encode("utf-8"))
            + _field_varint(3, link.tsize)
        )
        out += _field_bytes(2, body)
    out += _field_bytes(1, data)
    return bytes(out)


# CIDv1 prefixes: version 1, codec (0x70 dag-pb, 0x55 raw), multihash sha2-256 of 32 bytes.
_DAG_PB_PREFIX = b"\x01\x70\x12\x20"
_RAW_PREFIX = b"\x01\x55\x12\x20"


def _base32_cid(binary: bytes) -> str:
    return "b" + base64.b32encode(binary).decode("ascii").lower().rstrip("=")


def dag_pb_cid(block: bytes) -> str:
    """CIDv1 (base32) of a dag-pb block, as kubo computes it with sha2-256."""
    return _base32_cid(_DAG_PB_PREFIX + hashlib.sha256(block).digest())


def raw_cid(block: bytes) -> str:
    return _base32_cid(_RAW_PREFIX + hashlib.sha256(block).digest())


# RFC 4648 base32 digits mapped onto int()'s base-32 digits: int(..., 32) decodes in C, ~10x
# faster than base64.b32decode, which matters when a merge links 10,000s of outputs.
_TO_INT_DIGITS = str.maketrans(
    "abcdefghijklmnopqrstuvwxyz234567", "0123456789abcdefghijklmnopqrstuv"
)


def cid_bytes(text: str) -> bytes:
    """Binary form of a CID string; base32 CIDv1 (what codsh writes) takes a fast path."""
    if text.startswith("b") and text.islower():
        body = text[1:]
        size = len(body) * 5 // 8  # the bits past the last whole byte are zero padding
        value = int(body.translate(_TO_INT_DIGITS), 32) >> (len(body) * 5 - size * 8)
        return value.to_bytes(size, "big")
    from multiformats import CID

    return bytes(CID.decode(text))


_LOW_64 = (1 << 64) - 1


def block_key(text: str) -> int:
    """A CID's block as kubo's blockstore keys it (by multihash, whatever the CID's version and
    codec), as the digest's last 64 bits: a compact key for sets of many blocks (a false match
    among n blocks has a chance of about n / 2^64). Base32 decodes only its last digits (an
    inventory keys 10,000s of CIDs a node: half the time of decoding the whole CID)."""
    if text.startswith("b") and text.islower():
        pad = (len(text) - 1) * 5 % 8  # the zero bits past the last whole byte
        digits = (64 + pad + 4) // 5
        if len(text) > digits:
            return (int(text[-digits:].translate(_TO_INT_DIGITS), 32) >> pad) & _LOW_64
    binary = cid_bytes(text)  # CIDv0 is the multihash; v1 ends with it: its digest ends both
    return int.from_bytes(binary[-8:], "big")


def is_raw_block(text: str) -> bool:
    """A raw-codec CIDv1: the whole content is this one block (no links below it)."""
    return text.startswith("bafkrei") or cid_bytes(text)[:2] == b"\x01\x55"


def cid_length(text: str) -> int:
    """Bytes in the binary form of a CID string (what boxo's size estimate counts)."""
    if text.startswith("b") and text.islower():
        return (len(text) - 1) * 5 // 8
    return len(cid_bytes(text))


def parse_cid(text: str) -> CID:
    """Decode a CID string; raises ValueError with the decoder's reason when it is malformed."""
    from multiformats import CID

    try:
        return CID.decode(text)
    except Exception as exc:  # multiformats raises several unrelated types
        raise ValueError(str(exc) or type(exc).__name__) from exc


def check_cid(text: str) -> None:
    """Raise ValueError (with the decoder's reason) unless `text` is a CID. The CIDs codsh and
    kubo write are recognised here without the decoder, which costs a CLI command ~30-100 ms
    to import; anything else goes to it."""
    if _plain_cid(text):
        return
    if not _MULTIBASE.issuperset(text) or ("/" in text and text[0] not in "mM"):
        raise ValueError(f"{text!r} is not in any multibase")  # a name, a path: no decoder
    parse_cid(text)


def is_cid(text: str) -> bool:
    """Whether `text` decodes as a CID (a name, a path or a typo does not)."""
    try:
        check_cid(text)
    except ValueError:
        return False
    return True


_MULTIBASE = frozenset(string.ascii_letters + string.digits + "+/=-_")  # every base's digits
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_VALUE = {c: i for i, c in enumerate(_BASE58)}
_BASE32_DIGITS = frozenset("abcdefghijklmnopqrstuvwxyz234567")
_KNOWN_CODECS = frozenset({0x55, 0x70, 0x71, 0x0129})  # raw, dag-pb, dag-cbor, dag-json
_HASH_LENGTHS = {0x12: 32, 0x13: 64, 0x1E: 32}  # sha2-256, sha2-512, blake3 (0x00: identity)


def _plain_cid(text: str) -> bool:
    """A base32 CIDv1 or a base58 CIDv0 of a known codec and hash, checked byte by byte."""
    if len(text) == 46 and text.startswith("Qm"):
        if any(c not in _BASE58_VALUE for c in text):
            return False
        value = 0
        for char in text:
            value = value * 58 + _BASE58_VALUE[char]
        return value.to_bytes(34, "big")[:2] == b"\x12\x20" if value < 1 << 272 else False
    if len(text) < 8 or not text.startswith("b") or not _BASE32_DIGITS.issuperset(text[1:]):
        return False
    body = text[1:]
    size, padding = len(body) * 5 // 8, len(body) * 5 % 8
    value = int(body.translate(_TO_INT_DIGITS), 32)
    if value & ((1 << padding) - 1) or padding >= 5:  # a canonical encoding pads with zero bits
        return False
    data = (value >> padding).to_bytes(size, "big")
    fields: list[int] = []
    at = 0
    while len(fields) < 4 and at < len(data):  # version, codec, hash code, digest length
        value, shift = 0, 0
        while at < len(data):
            byte = data[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        fields.append(value)
    if len(fields) < 4:
        return False
    version, codec, code, length = fields
    if version != 1 or codec not in _KNOWN_CODECS or len(data) - at != length:
        return False
    return length == _HASH_LENGTHS[code] if code in _HASH_LENGTHS else code == 0x00


def safe_join(root: Path, relative: str) -> Path:
    """`root/relative`, refusing names that would escape `root` (UnixFS names are untrusted)."""
    if not relative:
        return root
    parts = relative.split("/")
    if any(p in ("", ".", "..") or "\0" in p for p in parts):
        raise InputError(
            f"refusing to write the unsafe name {relative!r}", "fetch single files with `codsh cat`"
        )
    return root.joinpath(*parts)
