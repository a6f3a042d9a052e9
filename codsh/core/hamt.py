"""UnixFS HAMT-sharded directories built as kubo builds them: pure functions, no I/O.

A directory too large for one block is a trie of dag-pb nodes (UnixFS type HAMTShard). To give
the CID `ipfs add -r` gives (kubo 0.42, boxo 0.40: ipld/unixfs/hamt and io/directory.go), the
layout must match exactly: fanout 256, each level indexed by the next byte of the name's hash
(the first 64 bits of murmur3-x64-128, seed 0, big-endian), a slot holding one entry is a link
named `XX` + name (the slot in upper-case hex), a slot holding several is a child shard linked
as `XX`. The result does not depend on the order the entries come in.
"""

from __future__ import annotations

from collections.abc import Sequence

from codsh.core.unixfs import HAMT_SHARD, Link, cid_length, dag_pb_cid, encode_node, varint

FANOUT = 256  # boxo's DefaultShardWidth, kubo's Import.UnixFSHAMTDirectoryMaxFanout
MURMUR3_X64_64 = 0x22  # the multicodec of the hash, written into every shard node
# kubo's Import.UnixFSHAMTDirectorySizeThreshold: a directory shards when its estimated size
# (boxo's "links" estimate, kubo's default) is strictly over it.
SHARDING_SIZE = 256 * 1024
_LEVELS = 8  # 64 hash bits, 8 per level: past that boxo says "sharded directory too deep"

_MASK = (1 << 64) - 1
_C1 = 0x87C37B91114253D5
_C2 = 0x4CF5AD432745937F


class ShardingError(ValueError):
    """Two names share all 64 bits of their hash: kubo cannot shard them either."""


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _MASK


def _fmix(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _MASK
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _MASK
    return k ^ (k >> 33)


def murmur3_x64_128(data: bytes, seed: int = 0) -> tuple[int, int]:
    """MurmurHash3 x64 128-bit as (h1, h2); Go's murmur3.New64 (boxo's HAMT hash) is h1."""
    h1 = h2 = seed & _MASK
    length = len(data)
    end = length - length % 16
    for pos in range(0, end, 16):
        k1 = int.from_bytes(data[pos : pos + 8], "little")
        k2 = int.from_bytes(data[pos + 8 : pos + 16], "little")
        h1 ^= (_rotl((k1 * _C1) & _MASK, 31) * _C2) & _MASK
        h1 = (_rotl(h1, 27) + h2) & _MASK
        h1 = (h1 * 5 + 0x52DCE729) & _MASK
        h2 ^= (_rotl((k2 * _C2) & _MASK, 33) * _C1) & _MASK
        h2 = (_rotl(h2, 31) + h1) & _MASK
        h2 = (h2 * 5 + 0x38495AB5) & _MASK
    tail = data[end:]
    if len(tail) > 8:
        k2 = int.from_bytes(tail[8:], "little")
        h2 ^= (_rotl((k2 * _C2) & _MASK, 33) * _C1) & _MASK
    if tail:
        k1 = int.from_bytes(tail[:8], "little")
        h1 ^= (_rotl((k1 * _C1) & _MASK, 31) * _C2) & _MASK
    h1 ^= length
    h2 ^= length
    h1 = (h1 + h2) & _MASK
    h2 = (h2 + h1) & _MASK
    h1, h2 = _fmix(h1), _fmix(h2)
    h1 = (h1 + h2) & _MASK
    return h1, (h2 + h1) & _MASK


def hamt_hash(name: str) -> int:
    """The 64-bit hash a HAMT indexes `name` by (its UTF-8 bytes)."""
    return murmur3_x64_128(name.encode("utf-8"))[0]


def estimated_size(links: Sequence[Link]) -> int:
    """boxo's "links" size estimate of a directory: name bytes plus binary CID bytes per link."""
    return sum(len(link.name.encode("utf-8")) + cid_length(link.cid) for link in links)


def needs_sharding(links: Sequence[Link]) -> bool:
    """Whether kubo would make this directory a HAMT (strictly over the threshold)."""
    return estimated_size(links) > SHARDING_SIZE


def shard_data(bitfield: int) -> bytes:
    """UnixFS Data of a shard node: Type, the occupied-slot bitfield, hash type and fanout.

    The bitfield is big-endian with slot i at bit i of the number, leading zero bytes dropped,
    as go-bitfield's Bytes() writes it.
    """
    bits = bitfield.to_bytes(FANOUT // 8, "big").lstrip(b"\0")
    field2 = varint(2 << 3 | 2) + varint(len(bits)) + bits if bits else b""
    return (
        varint(1 << 3)
        + varint(HAMT_SHARD)
        + field2
        + varint(5 << 3)
        + varint(MURMUR3_X64_64)
        + varint(6 << 3)
        + varint(FANOUT)
    )


def build_hamt(links: Sequence[Link]) -> tuple[list[tuple[str, bytes]], str, int]:
    """The shard nodes for `links` (names unique), children before parents, as (cid, block);
    then the root CID and the root's DAG size (tsize)."""
    entries = [(hamt_hash(link.name), link) for link in links]
    blocks: list[tuple[str, bytes]] = []
    cid, tsize = _shard(entries, 0, blocks)
    return blocks, cid, tsize


def _shard(
    entries: list[tuple[int, Link]], depth: int, blocks: list[tuple[str, bytes]]
) -> tuple[str, int]:
    if depth >= _LEVELS:
        names = ", ".join(sorted(repr(link.name) for _, link in entries))
        raise ShardingError(f"the names {names} have the same 64-bit HAMT hash")
    shift = 56 - 8 * depth
    slots: dict[int, list[tuple[int, Link]]] = {}
    for entry in entries:
        slots.setdefault((entry[0] >> shift) & 0xFF, []).append(entry)
    out: list[Link] = []
    bitfield = 0
    for slot in sorted(slots):
        bitfield |= 1 << slot
        members = slots[slot]
        if len(members) == 1:
            link = members[0][1]
            out.append(Link(link.cid, f"{slot:02X}{link.name}", link.tsize))
        else:
            cid, tsize = _shard(members, depth + 1, blocks)
            out.append(Link(cid, f"{slot:02X}", tsize))
    block = encode_node(out, shard_data(bitfield))
    cid = dag_pb_cid(block)
    blocks.append((cid, block))
    return cid, len(block) + sum(link.tsize for link in out)
