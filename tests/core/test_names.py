"""codsh.core.names: what kubo would clean, refuse or fail to shard is refused before any work."""

from __future__ import annotations

import unicodedata

import pytest

from codsh.core import names
from codsh.core.merge import Block, put_batches
from codsh.core.names import NameProblem, check_input, check_shardable, check_tree
from codsh.errors import InputError


def test_a_plain_tree_and_one_file_pass() -> None:
    check_tree(["a", "d/b", "d/e/c"], ["d", "d/e", "empty"])
    check_tree([""])  # the input is one file


@pytest.mark.parametrize(
    ("files", "directories", "words"),
    [
        (["a", "a"], [], "'a' appears twice"),
        (["d", "d/x"], ["d"], "'d' appears as a file and a folder"),
        (["f", "f/x"], [], "'f' is a file and the folder of 'f/x'"),
        (["d/./a"], ["d"], "'d/./a' is not a plain path"),
        (["d//a"], ["d"], "'d//a' is not a plain path"),
        (["d/a/"], ["d"], "'d/a/' is not a plain path"),
        (["../a"], [], "'../a' is not a plain path"),
        (["a"], ["."], "'.' is not a plain path"),
    ],
)
def test_names_kubo_would_clean_or_refuse_are_refused(
    files: list[str], directories: list[str], words: str
) -> None:
    """kubo cleans `d/./a`, `d//a` and `d/a/` into `d/a` and refuses a second `d/a` ("directory
    already has entry by that name", checked on kubo 0.42)."""
    with pytest.raises(NameProblem, match=words):
        check_tree(files, directories)


def test_unicode_forms_are_two_names_as_in_kubo() -> None:
    """kubo does not normalise Unicode: NFC and NFD `café` are two entries of one folder."""
    nfc, nfd = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    assert nfc != nfd
    check_tree([nfc, nfd])


def test_many_problems_are_counted_not_all_listed() -> None:
    with pytest.raises(NameProblem, match="and 5 more"):
        check_tree([f"x/{i}/" for i in range(10)], ["x"])


def test_a_hash_collision_in_a_folder_kubo_shards_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pure logic: two names given one hash stand for a real 64-bit murmur3 collision."""
    wide = [f"{i:05d}-{'n' * 200}" for i in range(1300)]  # past the 256 KiB threshold
    monkeypatch.setattr(names, "hamt_hash", lambda name: 7 if name in wide[:2] else hash(name))
    with pytest.raises(NameProblem, match="same 64-bit HAMT hash"):
        check_shardable(wide, "logs")
    check_shardable(wide[:10], "logs")  # a folder kubo does not shard has no such limit


def test_check_input_says_what_to_do() -> None:
    with pytest.raises(InputError) as caught:
        check_input("bafyX", ["a", "a"], [])
    assert "bafyX cannot be mirrored" in caught.value.message
    assert "nothing was run" in caught.value.message and "--concat" in caught.value.hint


def test_put_batches_keep_order_one_codec_and_bounds() -> None:
    blocks = [Block(f"c{i}", b"x" * 10) for i in range(450)]
    blocks.insert(5, Block("raw", b"", "raw"))
    batches = put_batches(blocks, per_request=200, max_bytes=1000)
    assert [b for batch in batches for b in batch] == blocks
    assert all(len({b.codec for b in batch}) == 1 for batch in batches)
    assert all(len(batch) <= 100 for batch in batches)  # 100 blocks of 10 bytes are 1,000
    assert [len(batch) for batch in put_batches(blocks[6:])] == [200, 200, 45]
