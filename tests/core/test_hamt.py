"""codsh.core.hamt: murmur3 against its reference vectors, shard nodes decoded back, and merged
trees against the CIDs kubo 0.42 computed for them (tests/core/data/hamt_cids.json)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from codsh.core.hamt import (
    SHARDING_SIZE,
    ShardingError,
    _shard,
    build_hamt,
    estimated_size,
    hamt_hash,
    murmur3_x64_128,
    needs_sharding,
    shard_data,
)
from codsh.core.merge import MergeError, Output, merge_per_file
from codsh.core.unixfs import HAMT_SHARD, Link, dag_pb_cid, raw_cid
from tests.core.hamt_cases import cases
from tests.core.test_merge import decode_node
from tests.protobuf import fields

KUBO = json.loads((Path(__file__).parent / "data" / "hamt_cids.json").read_text())

# spaolacci/murmur3's murmur_test.go (the Go package boxo hashes with): seed, h1, h2, input
VECTORS = [
    (0x00, 0x0000000000000000, 0x0000000000000000, ""),
    (0x00, 0xCBD8A7B341BD9B02, 0x5B1E906A48AE1D19, "hello"),
    (0x00, 0x342FAC623A5EBC8E, 0x4CDCBC079642414D, "hello, world"),
    (0x00, 0xB89E5988B737AFFC, 0x664FC2950231B2CB, "19 Jan 2038 at 3:14:07 AM"),
    (0x00, 0xCD99481F9EE902C9, 0x695DA1A38987B6E7, "The quick brown fox jumps over the lazy dog."),
    (0x01, 0x4610ABE56EFF5CB5, 0x51622DAA78F83583, ""),
    (0x01, 0xA78DDFF5ADAE8D10, 0x128900EF20900135, "hello"),
    (0x01, 0x8B95F808840725C6, 0x1597ED5422BD493B, "hello, world"),
    (0x2A, 0xF02AA77DFA1B8523, 0xD1016610DA11CBB9, ""),
    (0x2A, 0xFD8F19EBDC8C6B6A, 0xD30FDC310FA08FF9, "19 Jan 2038 at 3:14:07 AM"),
    (0x2A, 0x74F33C659CDA5AF7, 0x4EC7A891CAF316F0, "The quick brown fox jumps over the lazy dog."),
]


@pytest.mark.parametrize(("seed", "h1", "h2", "text"), VECTORS)
def test_murmur3_x64_128_reference_vectors(seed: int, h1: int, h2: int, text: str) -> None:
    assert murmur3_x64_128(text.encode(), seed) == (h1, h2)


def test_murmur3_every_tail_length() -> None:
    """Lengths 0..40 walk every tail case and several 16-byte blocks; h1 is what HAMTs use."""
    data = bytes(range(40))
    hashes = {murmur3_x64_128(data[:n]) for n in range(41)}
    assert len(hashes) == 41
    assert hamt_hash("hello") == 0xCBD8A7B341BD9B02
    assert hamt_hash("é") == murmur3_x64_128("é".encode())[0]


# -- shard nodes ---------------------------------------------------------------------------------


def test_shard_data_fields_and_big_endian_bitfield() -> None:
    # slot 0 and slot 9: bit 0 and bit 9 of a big-endian number, leading zero bytes dropped
    assert fields(shard_data(1 | 1 << 9)) == [
        (1, HAMT_SHARD),
        (2, b"\x02\x01"),
        (5, 0x22),
        (6, 256),
    ]
    assert fields(shard_data(1 << 255))[1] == (2, b"\x80" + b"\0" * 31)


def test_estimate_and_threshold_are_kubos() -> None:
    cid = raw_cid(b"x")  # 36 bytes in binary
    assert estimated_size([Link(cid, "ab", 1), Link(cid, "é", 1)]) == 36 + 2 + 36 + 2
    exactly = [Link(cid, f"{i:05d}", 1) for i in range(SHARDING_SIZE // 41 - 1)]  # 41 each
    exactly.append(Link(cid, "y" * (SHARDING_SIZE - estimated_size(exactly) - 36), 1))
    assert estimated_size(exactly) == SHARDING_SIZE
    assert not needs_sharding(exactly)  # at the threshold stays a plain directory, as in boxo
    assert needs_sharding([*exactly[:-1], Link(cid, exactly[-1].name + "y", 1)])


def test_hamt_nodes_decode_and_every_name_is_where_its_hash_says() -> None:
    links = [Link(raw_cid(b"%d" % i), f"file-{i}", i + 1) for i in range(3000)]
    blocks, root, tsize = build_hamt(links)
    nodes = dict(blocks)
    decoded = {cid: decode_node(data) for cid, data in blocks}  # ~100 nodes, decoded once
    assert blocks[-1][0] == root
    assert all(dag_pb_cid(data) == cid for cid, data in blocks)
    assert tsize == sum(len(data) for data in nodes.values()) + sum(range(1, 3001))
    for link in links:
        node, depth, hashed = root, 0, hamt_hash(link.name)
        while True:
            children, unixfs = decoded[node]
            assert unixfs["type"] == HAMT_SHARD
            prefix = f"{(hashed >> (56 - 8 * depth)) & 0xFF:02X}"
            (child,) = [c for c in children if c[1].startswith(prefix)]
            if child[1] == prefix:  # a child shard
                node, depth = child[0], depth + 1
                continue
            assert child == (link.cid, prefix + link.name, link.tsize)
            break


def test_hamt_is_independent_of_link_order() -> None:
    links = [Link(raw_cid(b"%d" % i), f"n{i}", 1) for i in range(2000)]
    shuffled = list(links)
    random.Random(3).shuffle(shuffled)
    assert build_hamt(shuffled) == build_hamt(links)


def test_names_with_the_same_64_bit_hash_cannot_be_sharded() -> None:
    twins = [(7, Link(raw_cid(b"a"), "a", 1)), (7, Link(raw_cid(b"b"), "b", 1))]
    with pytest.raises(ShardingError, match="same 64-bit HAMT hash"):
        _shard(twins, 0, [])
    assert issubclass(ShardingError, ValueError) and not issubclass(ShardingError, MergeError)


# -- against kubo --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(KUBO))
def test_merge_gives_the_cid_kubo_gives(case: str) -> None:
    """`ipfs add -r --cid-version=1 --raw-leaves` of kubo 0.42 made these; each file's output is
    its own raw block, so a per-file merge of them is that same tree."""
    outputs = [Output(path, raw_cid(data), len(data), len(data)) for path, data in cases()[case]]
    merged = merge_per_file(outputs)
    assert merged.cid == KUBO[case]
    assert all(len(block.data) < 1024 * 1024 for block in merged.blocks)
