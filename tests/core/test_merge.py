"""codsh.merge: the dag-pb nodes that link per-file outputs, checked by decoding them back."""

from __future__ import annotations

import math
import random

import pytest
from multiformats import CID

from codsh.core.merge import (
    FANOUT,
    Block,
    MergeError,
    Output,
    merge_concat,
    merge_per_file,
    pin_batches,
)
from codsh.core.model import path_order
from codsh.core.unixfs import dag_pb_cid, raw_cid
from tests.protobuf import fields

EMPTY_RAW = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
EMPTY_DIR = "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"


# -- a minimal dag-pb / UnixFS reader ----------------------------------------------------------


def decode_node(block: bytes) -> tuple[list[tuple[str, str, int]], dict[str, object]]:
    """(links as (cid, name, tsize), UnixFS data as {'type', 'filesize', 'blocksizes'})."""
    links: list[tuple[str, str, int]] = []
    unixfs: dict[str, object] = {"blocksizes": []}
    for number, value in fields(block):
        assert isinstance(value, bytes)
        if number == 2:
            link = dict(fields(value))
            cid_bytes, name, tsize = link[1], link.get(2, b""), link[3]
            assert isinstance(cid_bytes, bytes) and isinstance(name, bytes)
            assert isinstance(tsize, int)
            links.append((str(CID.decode(cid_bytes).set(base="base32")), name.decode(), tsize))
        else:
            assert number == 1
            for field, item in fields(value):
                if field == 1:
                    unixfs["type"] = item
                elif field == 3:
                    unixfs["filesize"] = item
                elif field == 4:
                    unixfs["blocksizes"].append(item)  # type: ignore[attr-defined]
    return links, unixfs


def out(path: str, content: bytes) -> Output:
    """An output as kubo would report a raw-leaf file: tsize == size == len(content)."""
    return Output(path, raw_cid(content), len(content), len(content))


def by_cid(blocks: list[Block]) -> dict[str, Block]:
    return {block.cid: block for block in blocks}


# -- per-file ----------------------------------------------------------------------------------


def test_per_file_single_output_at_root_is_returned_as_is() -> None:
    only = Output("", raw_cid(b"result"), 6, 17)
    merged = merge_per_file([only])
    assert (merged.cid, merged.size, merged.tsize, merged.blocks) == (only.cid, 6, 17, [])


def test_per_file_with_no_outputs_is_the_empty_directory() -> None:
    merged = merge_per_file([])
    assert merged.cid == EMPTY_DIR
    assert merged.blocks == [Block(EMPTY_DIR, b"\x0a\x02\x08\x01")]
    assert (merged.size, merged.tsize) == (0, 4)


def test_per_file_flat_directory() -> None:
    outputs = [out("b.txt", b"bee"), out("a.txt", b"a")]
    merged = merge_per_file(outputs)
    assert len(merged.blocks) == 1
    root = merged.blocks[0]
    assert root.cid == merged.cid == dag_pb_cid(root.data)
    assert root.codec == "dag-pb"
    links, unixfs = decode_node(root.data)
    assert links == [(raw_cid(b"a"), "a.txt", 1), (raw_cid(b"bee"), "b.txt", 3)]
    assert unixfs == {"type": 1, "blocksizes": []}
    assert merged.size == 4
    assert merged.tsize == len(root.data) + 4


NESTED = [
    out("a/x.txt", b"x"),
    out("a/b/y.txt", b"yy"),
    out("a/b/c/z.txt", b"zzz"),
    out("c.txt", b"cccc"),
    out("B.txt", b"BBBBB"),
    out("\u00e9t\u00e9.txt", b"summer"),
    out("a.txt", b"dot"),
]


def test_per_file_nested_paths_build_directories_children_first() -> None:
    merged = merge_per_file(NESTED)
    assert len(merged.blocks) == 4  # a/b/c, a/b, a, root
    assert merged.blocks[-1].cid == merged.cid
    seen: set[str] = set()
    for block in merged.blocks:
        assert block.cid == dag_pb_cid(block.data)
        for cid, _, _ in decode_node(block.data)[0]:
            if cid.startswith("bafy"):  # a directory node: must have been emitted already
                assert cid in seen
        seen.add(block.cid)


def test_per_file_root_links_sorted_bytewise() -> None:
    merged = merge_per_file(NESTED)
    links, unixfs = decode_node(by_cid(merged.blocks)[merged.cid].data)
    # bytewise: uppercase < lowercase, "a" < "a.txt", multi-byte UTF-8 after ASCII
    assert [name for _, name, _ in links] == ["B.txt", "a", "a.txt", "c.txt", "\u00e9t\u00e9.txt"]
    assert unixfs["type"] == 1
    assert merged.size == sum(o.size for o in NESTED)


def test_per_file_tree_resolves_every_path_to_its_output() -> None:
    merged = merge_per_file(NESTED)
    blocks = by_cid(merged.blocks)
    for output in NESTED:
        cid = merged.cid
        for part in output.path.split("/"):
            links = decode_node(blocks[cid].data)[0]
            (cid,) = [child for child, name, _ in links if name == part]
        assert cid == output.cid


def test_per_file_tsizes_add_up() -> None:
    merged = merge_per_file(NESTED)
    blocks = by_cid(merged.blocks)

    def tsize(cid: str) -> int:
        if cid not in blocks:
            return next(o.tsize for o in NESTED if o.cid == cid)
        links = decode_node(blocks[cid].data)[0]
        for child, _, link_tsize in links:
            assert link_tsize == tsize(child)
        return len(blocks[cid].data) + sum(t for _, _, t in links)

    assert merged.tsize == tsize(merged.cid)


def test_per_file_directories_keep_empty_folders() -> None:
    merged = merge_per_file([out("a/f", b"f")], directories=["a", "a/empty", "other"])
    blocks = by_cid(merged.blocks)
    root_links = decode_node(blocks[merged.cid].data)[0]
    assert [(name, tsize) for _, name, tsize in root_links][1] == ("other", 4)
    assert root_links[1][0] == EMPTY_DIR
    a_cid = root_links[0][0]
    a_links = decode_node(blocks[a_cid].data)[0]
    assert [(cid, name) for cid, name, _ in a_links] == [(EMPTY_DIR, "empty"), (raw_cid(b"f"), "f")]


def test_per_file_only_empty_directories() -> None:
    merged = merge_per_file([], directories=["d"])
    links, _ = decode_node(by_cid(merged.blocks)[merged.cid].data)
    assert links == [(EMPTY_DIR, "d", 4)]


@pytest.mark.parametrize("seed", range(5))
def test_per_file_is_independent_of_output_order(seed: int) -> None:
    shuffled = list(NESTED)
    random.Random(seed).shuffle(shuffled)
    dirs = ["a/b", "a/empty"]
    assert merge_per_file(shuffled, dirs[::-1] if seed % 2 else dirs) == merge_per_file(
        NESTED, dirs
    )


def test_per_file_directory_then_file_at_same_path_raises() -> None:
    with pytest.raises(MergeError, match="both a file and a directory"):
        merge_per_file([out("a", b"1"), out("a/b", b"2")])


def test_per_file_file_then_directory_at_same_path_raises() -> None:
    with pytest.raises(MergeError):
        merge_per_file([out("a/b", b"2"), out("a", b"1")])


def test_per_file_file_over_listed_directory_raises() -> None:
    with pytest.raises(MergeError):
        merge_per_file([out("a", b"1")], directories=["a"])


def test_per_file_directory_too_large_for_one_block_is_hamt_sharded() -> None:
    """Issue 13: this was refused ("HAMT-sharded output directories are not supported yet")."""
    cid = raw_cid(b"x")
    outputs = [Output(f"big/{i:05d}-{'n' * 250}", cid, 1, 1) for i in range(4000)]
    outputs.append(out("small/ok", b"ok"))
    merged = merge_per_file(outputs)
    blocks = by_cid(merged.blocks)
    root_links, _ = decode_node(blocks[merged.cid].data)
    big = next(link for link in root_links if link[1] == "big")
    big_links, unixfs = decode_node(blocks[big[0]].data)
    assert unixfs["type"] == 5 and len(big_links) <= 256  # a HAMT shard, 256 slots at most
    small = next(link for link in root_links if link[1] == "small")
    assert decode_node(blocks[small[0]].data)[1]["type"] == 1  # a plain directory
    assert all(len(block.data) < 1024 * 1024 for block in merged.blocks)
    assert merged.tsize == sum(len(b.data) for b in merged.blocks) + 4000 + 2


# -- concat ------------------------------------------------------------------------------------


def test_concat_of_nothing_is_the_empty_raw_block() -> None:
    merged = merge_concat([])
    assert merged.cid == EMPTY_RAW
    assert (merged.size, merged.tsize) == (0, 0)
    assert merged.blocks == [Block(EMPTY_RAW, b"", "raw")]


def test_concat_of_one_output_is_that_output() -> None:
    only = Output("dir/file.txt", raw_cid(b"abc"), 3, 3)
    merged = merge_concat([only])
    assert (merged.cid, merged.size, merged.tsize, merged.blocks) == (only.cid, 3, 3, [])


def test_concat_of_three_is_one_file_node() -> None:
    outputs = [
        Output("b", raw_cid(b"bb"), 2, 2),
        Output("a", raw_cid(b"a"), 1, 1),
        Output("c", dag_pb_cid(b"pretend file node"), 500_000, 500_321),
    ]
    merged = merge_concat(outputs)
    assert len(merged.blocks) == 1
    (block,) = merged.blocks
    assert block.cid == merged.cid == dag_pb_cid(block.data)
    assert block.codec == "dag-pb"
    links, unixfs = decode_node(block.data)
    assert links == [
        (raw_cid(b"a"), "", 1),
        (raw_cid(b"bb"), "", 2),
        (outputs[2].cid, "", 500_321),
    ]
    assert unixfs == {"type": 2, "filesize": 500_003, "blocksizes": [1, 2, 500_000]}
    assert merged.size == 500_003
    assert merged.tsize == len(block.data) + 1 + 2 + 500_321


def test_concat_keeps_empty_outputs_as_zero_sized_children() -> None:
    merged = merge_concat([out("1", b"one"), Output("2", EMPTY_RAW, 0, 0), out("3", b"3")])
    links, unixfs = decode_node(merged.blocks[0].data)
    assert [cid for cid, _, _ in links] == [raw_cid(b"one"), EMPTY_RAW, raw_cid(b"3")]
    assert unixfs["blocksizes"] == [3, 0, 1]
    assert unixfs["filesize"] == 4


def test_path_order_puts_subdirectory_before_dotted_sibling() -> None:
    assert path_order("a/b") < path_order("a.txt")
    assert sorted(["a.txt", "a/b", "a-b", "a"], key=path_order) == ["a", "a/b", "a-b", "a.txt"]


def test_concat_uses_path_order_not_string_order() -> None:
    # plain string order would give "a-b" < "a.txt" < "a/b"
    outputs = [out("a.txt", b"dot"), out("a-b", b"dash"), out("a/b", b"slash")]
    links, _ = decode_node(merge_concat(outputs).blocks[0].data)
    assert [cid for cid, _, _ in links] == [raw_cid(b"slash"), raw_cid(b"dash"), raw_cid(b"dot")]


def concat_outputs(count: int) -> list[Output]:
    # paths spread over directories so that path order differs from creation order
    return [out(f"d{i % 7}/f{i:04d}.txt", f"content {i}\n".encode()) for i in range(count)]


def test_concat_exactly_fanout_is_one_node() -> None:
    merged = merge_concat(concat_outputs(FANOUT))
    assert FANOUT == 174
    assert len(merged.blocks) == 1
    assert len(decode_node(merged.blocks[0].data)[0]) == 174


def test_concat_of_400_builds_a_balanced_tree() -> None:
    outputs = concat_outputs(400)
    random.Random(7).shuffle(outputs)
    merged = merge_concat(outputs)
    blocks = by_cid(merged.blocks)
    assert merged.blocks[-1].cid == merged.cid  # root last, children first
    assert len(merged.blocks) == math.ceil(400 / FANOUT) + 1 == 4

    root_links, root_data = decode_node(blocks[merged.cid].data)
    assert len(root_links) == 3
    assert all(cid in blocks and blocks[cid].codec == "dag-pb" for cid, _, _ in root_links)
    child_counts = [len(decode_node(blocks[cid].data)[0]) for cid, _, _ in root_links]
    assert child_counts == [174, 174, 52]

    total = sum(o.size for o in outputs)
    assert root_data["type"] == 2
    assert root_data["filesize"] == merged.size == total
    middle = [decode_node(blocks[cid].data)[1] for cid, _, _ in root_links]
    assert root_data["blocksizes"] == [m["filesize"] for m in middle]
    assert merged.tsize == len(blocks[merged.cid].data) + sum(t for _, _, t in root_links)
    assert merged.tsize == sum(len(b.data) for b in merged.blocks) + sum(o.tsize for o in outputs)

    def leaves(cid: str) -> list[str]:
        if cid not in blocks:
            return [cid]
        return [leaf for child, _, _ in decode_node(blocks[cid].data)[0] for leaf in leaves(child)]

    expected = [o.cid for o in sorted(outputs, key=lambda o: path_order(o.path))]
    assert leaves(merged.cid) == expected
    assert expected != [o.cid for o in outputs]  # the shuffle really did need reordering


def test_concat_is_independent_of_output_order() -> None:
    outputs = concat_outputs(200)
    shuffled = list(outputs)
    random.Random(3).shuffle(shuffled)
    assert merge_concat(shuffled) == merge_concat(outputs)


def test_pin_batches_keep_every_cid_once_in_order() -> None:
    blocks = [Block(raw_cid(b"%d" % i), b"") for i in range(4500)]
    batches = pin_batches(blocks)
    assert [len(batch) for batch in batches] == [2000, 2000, 500]
    assert [cid for batch in batches for cid in batch] == [block.cid for block in blocks]
    assert pin_batches([]) == []
