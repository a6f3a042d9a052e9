"""codsh.dataset: parsing parts, merging with an existing dataset, and the directory node."""

from __future__ import annotations

import base64

import pytest
from multiformats import CID

from codsh.core.dataset import (
    Part,
    build,
    build_all,
    check_unique,
    combine,
    parse_argument,
    parse_list,
    shard_links,
)
from codsh.core.merge import Output, merge_per_file
from codsh.core.unixfs import (
    Link,
    dag_pb_cid,
    raw_cid,
    unixfs_directory_data,
    unixfs_file_data,
    unixfs_type,
)
from codsh.errors import InputError
from tests.core.test_merge import EMPTY_DIR, decode_node, out
from tests.protobuf import fields

A = raw_cid(b"a")
B = raw_cid(b"b")
V0 = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"  # the empty directory, CIDv0


# -- one argument --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "source"),
    [
        (f"logs={A}", "logs", A),
        (f"year=2016={A}", "year=2016", A),  # the CID follows the last '='
        (f"x=/ipfs/{A}", "x", A),
        (f"x=ipfs://{A}", "x", A),
        (f"sub={A}/2016/jan/", "sub", f"{A}/2016/jan"),
        (f"old={V0}", "old", V0),
        (f"caf\u00e9 \u2603.csv={A}", "caf\u00e9 \u2603.csv", A),
        (f".hidden={A}", ".hidden", A),
    ],
)
def test_argument(text: str, name: str, source: str) -> None:
    assert parse_argument(text, "arg") == Part(name, source, "arg")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (A, ["expected NAME=CID", A]),
        (f"={A}", ["the name is empty"]),
        (f"a/b={A}", ["contains '/'"]),
        (f".={A}", ["'.' is not a file name"]),
        (f"..={A}", ["'..' is not a file name"]),
        (f"nul\0={A}", ["NUL"]),
        (f"bad\udcff={A}", ["not valid UTF-8"]),
        ("x=notacid", ["'notacid' is not a valid CID"]),
        ("x=", ["'' is not a valid CID"]),
        (f"x={A[:-3]}", ["is not a valid CID"]),
    ],
)
def test_bad_argument(text: str, words: list[str]) -> None:
    with pytest.raises(InputError) as caught:
        parse_argument(text, "argument 3")
    assert caught.value.message.startswith("argument 3: ")
    assert caught.value.hint
    for word in words:
        assert word in caught.value.message


# -- list files ----------------------------------------------------------------------------------


def test_list_forms_comments_and_blank_lines() -> None:
    text = "\n".join(
        [
            "# parts of the 2016 logs",
            f"a={A}",
            "",
            f"   b   {B}   ",
            f"year=2016 {A}",
            f"with space = {B}",
            f"tab\t{A}/sub",
            "   # indented comment",
        ]
    )
    assert parse_list(text, "list.txt") == [
        Part("a", A, "list.txt:2"),
        Part("b", B, "list.txt:4"),
        Part("year=2016", A, "list.txt:5"),
        Part("with space", B, "list.txt:6"),
        Part("tab", f"{A}/sub", "list.txt:7"),
    ]


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (A, ["list.txt:3: expected NAME=CID or NAME CID"]),
        (f"a/b {A}", ["list.txt:3: the name 'a/b' contains '/'"]),
        ("x notacid", ["list.txt:3: 'notacid' is not a valid CID"]),
        (f"x = {A} extra", ["list.txt:3: 'extra' is not a valid CID"]),
    ],
)
def test_list_errors_name_the_line(line: str, words: list[str]) -> None:
    with pytest.raises(InputError) as caught:
        parse_list(f"# header\nok={A}\n{line}\n", "list.txt")
    for word in words:
        assert word in caught.value.message


def test_duplicate_names_are_refused_naming_them_and_where() -> None:
    parts = [Part("a", A, "argument 1"), Part("b", B, "argument 2"), Part("a", B, "l.txt:4")]
    with pytest.raises(InputError) as caught:
        check_unique(parts)
    assert "'a' at argument 1, l.txt:4" in caught.value.message
    assert "'b'" not in caught.value.message
    check_unique(parts[:2])  # distinct names pass; the same CID twice is fine
    check_unique([Part("a", A, "1"), Part("b", A, "2")])


# -- the node ------------------------------------------------------------------------------------


def test_build_is_what_a_per_file_merge_of_the_same_links_gives() -> None:
    """merge_per_file is checked against kubo elsewhere; a dataset of files is the same node."""
    block, tsize = build([Link(B, "b.txt", 1), Link(A, "a.txt", 1)])
    merged = merge_per_file([out("a.txt", b"a"), out("b.txt", b"b")])
    assert (block.cid, tsize, [block]) == (merged.cid, merged.tsize, merged.blocks)
    assert block.cid == dag_pb_cid(block.data)


def test_build_sorts_links_bytewise_and_keeps_cids_and_tsizes() -> None:
    sub = dag_pb_cid(b"pretend directory")
    links = [
        Link(A, "\u00e9t\u00e9", 10),
        Link(sub, "a", 5_000_000),
        Link(B, "B", 1),
        Link(A, "a.txt", 1),
    ]
    block, tsize = build(links)
    decoded, unixfs = decode_node(block.data)
    assert [name for _, name, _ in decoded] == ["B", "a", "a.txt", "\u00e9t\u00e9"]
    assert unixfs == {"type": 1, "blocksizes": []}
    assert decoded[1] == (sub, "a", 5_000_000)
    assert tsize == len(block.data) + 10 + 5_000_000 + 1 + 1


def test_build_links_a_cidv0_part_as_cidv0() -> None:
    """kubo keeps a linked CID as it is; converting it to CIDv1 would change the dataset's CID."""
    block, _ = build([Link(V0, "old", 4)])
    ((_, link),) = [(n, v) for n, v in fields(block.data) if n == 2]
    assert isinstance(link, bytes)
    assert dict(fields(link))[1] == bytes(CID.decode(V0))


def test_build_is_independent_of_order() -> None:
    links = [Link(A, "a", 1), Link(B, "b", 1), Link(EMPTY_DIR, "c", 4)]
    assert build(links) == build(links[::-1])


def test_build_of_nothing_is_refused() -> None:
    with pytest.raises(InputError, match="at least one part"):
        build([])


def test_build_past_one_block_is_hamt_sharded_as_a_per_file_merge_is() -> None:
    """Issue 13: this was refused ("HAMT-sharded datasets are not supported yet")."""
    links = [Link(A, f"{i:05d}-{'n' * 250}", 1) for i in range(4000)]
    blocks, tsize = build_all(links)
    merged = merge_per_file([Output(link.name, A, 1, 1) for link in links])
    assert [b.cid for b in blocks] == [b.cid for b in merged.blocks] and tsize == merged.tsize
    assert build(links)[0] == blocks[-1]


# -- adding to a dataset -------------------------------------------------------------------------


def dag_json(data: bytes, links: list[Link]) -> dict[str, object]:
    """What kubo's `dag get` answers for a dag-pb node."""
    return {
        "Data": {"/": {"bytes": base64.b64encode(data).decode().rstrip("=")}},
        "Links": [
            {"Hash": {"/": link.cid}, "Name": link.name, "Tsize": link.tsize} for link in links
        ],
    }


def test_shard_links_of_a_directory() -> None:
    links = [Link(A, "a", 1), Link(V0, "b", 4)]
    assert shard_links(dag_json(unixfs_directory_data(), links), "D", root=True) == (links, [])
    assert shard_links(dag_json(unixfs_directory_data(), []), "D", root=True) == ([], [])


def test_shard_links_of_a_hamt_dataset_name_parts_and_child_shards() -> None:
    """Issue 13: adding to a HAMT-sharded dataset was refused; its shards are read instead."""
    links = [Link(A, f"{i:04d}-{'n' * 250}", 1) for i in range(1200)]
    blocks, _ = build_all(links)
    nodes = {block.cid: block.data for block in blocks}
    found, todo = [], [blocks[-1].cid]
    while todo:
        cid = todo.pop()
        links_here, shards = shard_links(_as_dag_json(nodes[cid]), cid, root=cid == blocks[-1].cid)
        found += links_here
        todo += shards
    assert sorted(found, key=str) == sorted(links, key=str) and len(blocks) > 1
    with pytest.raises(InputError, match="not a UnixFS directory"):  # a child is a shard too
        shard_links(dag_json(unixfs_directory_data(), links[:1]), "S")


def _as_dag_json(block: bytes) -> dict[str, object]:
    decoded, _ = decode_node(block)
    data = next(value for number, value in fields(block) if number == 1)
    assert isinstance(data, bytes)
    return dag_json(data, [Link(cid, name, tsize) for cid, name, tsize in decoded])


@pytest.mark.parametrize(
    ("node", "words"),
    [
        ({"/": {"bytes": "aGVsbG8"}}, ["D is a file"]),  # a raw block
        (dag_json(unixfs_file_data([1, 1]), [Link(A, "", 1), Link(B, "", 1)]), ["D is a file"]),
        (dag_json(b"", []), ["not a UnixFS directory"]),
        ({"Data": None, "Links": []}, ["not a UnixFS directory"]),
        (
            {"Data": {"/": {"bytes": "CAE"}}, "Links": [{"Hash": {"/": A}, "Name": "x"}]},
            ["a link without name, CID or size"],
        ),
    ],
)
def test_shard_links_refuses_what_is_not_a_directory(
    node: dict[str, object], words: list[str]
) -> None:
    with pytest.raises(InputError) as caught:
        shard_links(node, "D", root=True)
    for word in words:
        assert word in caught.value.message
    assert caught.value.hint


def test_combine_adds_new_names() -> None:
    existing = [Link(A, "a", 1), Link(B, "b", 1)]
    combined = combine(existing, [Link(EMPTY_DIR, "c", 4)])
    assert sorted(combined, key=lambda link: link.name) == [*existing, Link(EMPTY_DIR, "c", 4)]
    # the result is the dataset `new` would make from all the parts at once
    assert build(combined) == build([Link(EMPTY_DIR, "c", 4), *existing])


def test_combine_refuses_a_name_already_there_unless_replace() -> None:
    existing = [Link(A, "a", 1), Link(B, "b", 1)]
    with pytest.raises(InputError) as caught:
        combine(existing, [Link(EMPTY_DIR, "b", 4), Link(EMPTY_DIR, "z", 4)])
    assert "already has 'b'" in caught.value.message
    assert "--replace" in caught.value.hint
    replaced = combine(existing, [Link(EMPTY_DIR, "b", 4)], replace=True)
    assert sorted(replaced, key=lambda link: link.name) == [
        Link(A, "a", 1),
        Link(EMPTY_DIR, "b", 4),
    ]


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (unixfs_directory_data(), 1),
        (unixfs_file_data([3, 4]), 2),
        (b"\x08\x05\x12\x00", 5),  # a HAMT shard (with its empty Data field)
        (b"\x12\x01x\x08\x01", 1),  # Type after another field still counts
        (b"\x18\x05", None),  # no Type
        (b"\x08", None),  # truncated
        (b"", None),
    ],
)
def test_unixfs_type(data: bytes, kind: int | None) -> None:
    assert unixfs_type(data) == kind
