"""codsh.ipfs.unixfs: varints, UnixFS Data, dag-pb nodes and CIDs against known values."""

from __future__ import annotations

import hashlib

import pytest
from multiformats import CID

from codsh.core.unixfs import (
    DIRECTORY,
    FILE,
    Link,
    block_key,
    dag_pb_cid,
    encode_node,
    is_raw_block,
    parse_cid,
    raw_cid,
    unixfs_directory_data,
    unixfs_file_data,
    varint,
)
from tests.protobuf import fields, read_varint

EMPTY_RAW = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
EMPTY_DIR = "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
EMPTY_DIR_V0 = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
HELLO_V0 = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"


# -- varint ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (1, b"\x01"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (300, b"\xac\x02"),
        (16384, b"\x80\x80\x01"),
        (2**63, b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"),
        (2**64 - 1, b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
    ],
)
def test_varint_known_values(value: int, encoded: bytes) -> None:
    assert varint(value) == encoded
    assert read_varint(encoded, 0) == (value, len(encoded))


def test_varint_rejects_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        varint(-1)


# -- CIDs --------------------------------------------------------------------------------------


def test_raw_cid_of_empty_block() -> None:
    assert raw_cid(b"") == EMPTY_RAW


def test_raw_cid_structure() -> None:
    cid = CID.decode(raw_cid(b"hello"))
    assert cid.version == 1
    assert cid.codec.name == "raw"
    assert cid.hashfun.name == "sha2-256"
    assert cid.raw_digest == hashlib.sha256(b"hello").digest()
    assert raw_cid(b"hello").startswith("bafkrei")


def test_empty_unixfs_directory_cid() -> None:
    block = encode_node([], unixfs_directory_data())
    assert block == b"\x0a\x02\x08\x01"
    assert dag_pb_cid(block) == EMPTY_DIR


def test_empty_directory_cid_matches_its_well_known_v0_form() -> None:
    v1 = CID.decode(dag_pb_cid(encode_node([], unixfs_directory_data())))
    assert v1.digest == CID.decode(EMPTY_DIR_V0).digest


def test_dag_pb_cid_differs_from_raw_cid_only_in_codec() -> None:
    pb, raw = CID.decode(dag_pb_cid(b"xyz")), CID.decode(raw_cid(b"xyz"))
    assert pb.codec.name == "dag-pb"
    assert pb.digest == raw.digest


# -- UnixFS Data -------------------------------------------------------------------------------


def test_unixfs_file_data_decodes_to_type_filesize_blocksizes() -> None:
    data = unixfs_file_data([3, 0, 5])
    assert fields(data) == [(1, 2), (3, 8), (4, 3), (4, 0), (4, 5)]
    assert FILE == 2


def test_unixfs_file_data_with_large_sizes() -> None:
    sizes = [2**40, 300, 1]
    assert fields(unixfs_file_data(sizes)) == [
        (1, 2),
        (3, 2**40 + 301),
        (4, 2**40),
        (4, 300),
        (4, 1),
    ]


def test_unixfs_file_data_without_children() -> None:
    assert fields(unixfs_file_data([])) == [(1, 2), (3, 0)]


def test_unixfs_directory_data() -> None:
    assert unixfs_directory_data() == b"\x08\x01"
    assert fields(unixfs_directory_data()) == [(1, DIRECTORY)]
    assert DIRECTORY == 1


# -- dag-pb nodes ------------------------------------------------------------------------------


def test_encode_node_puts_links_first_then_data() -> None:
    child_a, child_b = raw_cid(b"a"), raw_cid(b"bb")
    block = encode_node(
        [Link(child_a, "first", 1), Link(child_b, "zweite é", 300)], unixfs_directory_data()
    )
    top = fields(block)
    assert [number for number, _ in top] == [2, 2, 1]
    assert top[2] == (1, b"\x08\x01")
    link_a, link_b = (fields(value) for _, value in top[:2])  # type: ignore[arg-type]
    assert link_a == [(1, bytes(CID.decode(child_a))), (2, b"first"), (3, 1)]
    assert link_b == [(1, bytes(CID.decode(child_b))), (2, "zweite é".encode()), (3, 300)]


def test_encode_node_keeps_link_order_and_empty_names() -> None:
    cids = [raw_cid(bytes([i])) for i in range(3)]
    block = encode_node(
        [Link(c, "", i + 1) for i, c in enumerate(cids)], unixfs_file_data([1, 1, 1])
    )
    links = [fields(v) for n, v in fields(block) if n == 2]  # type: ignore[arg-type]
    assert [dict(link)[1] for link in links] == [bytes(CID.decode(c)) for c in cids]
    assert [dict(link)[2] for link in links] == [b"", b"", b""]
    assert [dict(link)[3] for link in links] == [1, 2, 3]


def test_encode_node_links_a_cidv0_by_its_binary_multihash() -> None:
    block = encode_node([Link(HELLO_V0, "h", 11)], unixfs_directory_data())
    (_, link), _ = fields(block)
    hash_bytes = dict(fields(link))[1]  # type: ignore[arg-type]
    assert hash_bytes == bytes(CID.decode(HELLO_V0))
    assert hash_bytes[:2] == b"\x12\x20"  # v0: a bare sha2-256 multihash, no version/codec prefix


# -- parse_cid ---------------------------------------------------------------------------------


def test_parse_cid_accepts_v1() -> None:
    cid = parse_cid(EMPTY_DIR)
    assert cid.version == 1
    assert cid.codec.name == "dag-pb"
    assert str(cid) == EMPTY_DIR


def test_parse_cid_accepts_v0() -> None:
    cid = parse_cid(HELLO_V0)
    assert cid.version == 0
    assert cid.codec.name == "dag-pb"


def test_parse_cid_accepts_raw_v1() -> None:
    assert parse_cid(EMPTY_RAW).codec.name == "raw"


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "hello",
        "not a cid",
        "Qm",
        "bafy",
        EMPTY_RAW[:-1],  # truncated
        HELLO_V0[:-1],
        "12345",
        EMPTY_DIR + "/sub",
    ],
)
def test_parse_cid_raises_value_error_on_garbage(garbage: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_cid(garbage)
    assert str(info.value)  # carries the decoder's reason, never an empty message


@pytest.mark.parametrize("seed", range(40))
def test_block_key_is_the_digests_last_64_bits_for_every_cid_form(seed: int) -> None:
    block = hashlib.sha256(str(seed).encode()).digest()[: seed + 1]
    for text in (raw_cid(block), dag_pb_cid(block)):
        cid = CID.decode(text)
        expected = int.from_bytes(bytes(cid.digest)[-8:], "big")
        assert block_key(text) == expected
        assert (
            block_key(cid.set(base="base58btc", version=0, codec="dag-pb").encode()) == expected
        )  # CIDv0
        assert block_key(cid.encode("base58btc")) == expected


def test_is_raw_block_tells_raw_leaves_from_dag_pb_nodes() -> None:
    raw, node = raw_cid(b"x"), dag_pb_cid(b"x")
    assert is_raw_block(raw) and is_raw_block(CID.decode(raw).encode("base58btc"))
    assert not is_raw_block(node) and not is_raw_block(
        CID.decode(node).set(base="base58btc", version=0).encode()
    )
