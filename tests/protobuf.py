"""A minimal protobuf reader for tests, independent of the encoder under test (codsh/ipfs/unixfs.py)."""

from __future__ import annotations


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) in wire order; varints as int, length-delimited as bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = read_varint(data, pos)
            out.append((number, data[pos : pos + length]))
            pos += length
        else:
            raise AssertionError(f"unexpected wire type {wire}")
    assert pos == len(data)
    return out
