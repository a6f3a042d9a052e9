"""codsh.plan: shards are consecutive runs of files in path order, within count and byte bounds."""

from __future__ import annotations

import random

from codsh.core.model import InputFile, Shard, path_order
from codsh.core.plan import make_shards


def files(count: int, size: int = 10) -> list[InputFile]:
    return [InputFile(f"dir{i % 3}/file{i:05d}", f"cid{i}", size) for i in range(count)]


def in_path_order(items: list[InputFile]) -> list[InputFile]:
    return sorted(items, key=lambda f: path_order(f.path))


def check_cover(shards: list[Shard], given: list[InputFile]) -> None:
    """Every file exactly once, shards consecutive in path order, indexes 0..n-1, none empty."""
    assert [s.index for s in shards] == list(range(len(shards)))
    assert all(s.files for s in shards)
    flat = [f for s in shards for f in s.files]
    assert flat == in_path_order(given)


def test_path_order_is_componentwise_bytewise() -> None:
    assert path_order("a/b") == ("a", "b")
    assert path_order("") == ("",)
    assert path_order("a/b") < path_order("a.txt") < path_order("b")
    assert path_order("Z") < path_order("a") < path_order("\u00e9")
    # code point order is UTF-8 byte order, also past the BMP
    names = ["\U0001f600", "\uffff", "\u00e9", "z", "A", "a b", "a\nb"]
    assert sorted(names, key=path_order) == sorted(names, key=lambda n: n.encode())


def test_no_files_no_shards() -> None:
    assert make_shards([]) == []
    assert make_shards([], min_shards=8) == []


def test_single_file_at_root_path() -> None:
    only = InputFile("", "cid", 123)
    assert make_shards([only], min_shards=4) == [Shard(0, (only,))]


def test_fewer_files_than_min_shards_gives_one_file_per_shard() -> None:
    given = files(3)
    shards = make_shards(given, min_shards=8)
    assert [len(s.files) for s in shards] == [1, 1, 1]
    check_cover(shards, given)


def test_default_is_one_shard_for_a_small_input() -> None:
    given = files(50)
    shards = make_shards(given)
    assert len(shards) == 1
    check_cover(shards, given)


def test_2000_files_two_min_shards_gives_two_of_1000() -> None:
    given = files(2000)
    shards = make_shards(given, min_shards=2)
    assert [len(s.files) for s in shards] == [1000, 1000]
    check_cover(shards, given)


def test_min_shards_spreads_files() -> None:
    given = files(100)
    shards = make_shards(given, min_shards=4)
    assert [len(s.files) for s in shards] == [25, 25, 25, 25]
    check_cover(shards, given)


def test_at_least_min_shards_when_there_are_enough_files() -> None:
    assert len(make_shards(files(5), min_shards=4)) == 4


def test_max_files_bounds_every_shard() -> None:
    given = files(2500)
    shards = make_shards(given)  # default max_files=1000
    assert [len(s.files) for s in shards] == [834, 833, 833]  # bounded by 1000, split evenly
    check_cover(shards, given)

    shards = make_shards(given, max_files=7, min_shards=2)
    assert all(len(s.files) <= 7 for s in shards)
    assert len(shards) == 358  # ceil(2500 / 7)
    check_cover(shards, given)


def test_max_files_wins_over_min_shards() -> None:
    shards = make_shards(files(40), max_files=5, min_shards=2)
    assert [len(s.files) for s in shards] == [5] * 8


def test_max_bytes_bounds_every_shard() -> None:
    given = files(100, size=30)
    shards = make_shards(given, max_bytes=100)
    assert [len(s.files) for s in shards] == [3] * 33 + [1]
    assert all(s.bytes <= 100 for s in shards)
    check_cover(shards, given)


def test_max_bytes_exactly_reached_stays_in_one_shard() -> None:
    shards = make_shards(files(4, size=25), max_bytes=100)
    assert [s.bytes for s in shards] == [100]


def test_huge_file_gets_a_shard_of_its_own() -> None:
    given = [
        InputFile("a", "c1", 10),
        InputFile("b", "c2", 10),
        InputFile("huge", "c3", 10**12),
        InputFile("z1", "c4", 10),
        InputFile("z2", "c5", 10),
    ]
    shards = make_shards(given, max_bytes=1000)
    assert [[f.path for f in s.files] for s in shards] == [["a", "b"], ["huge"], ["z1", "z2"]]
    assert [s.bytes for s in shards] == [20, 10**12, 20]
    check_cover(shards, given)


def test_huge_file_first_does_not_leave_an_empty_shard() -> None:
    given = [InputFile("a", "c1", 5000), InputFile("b", "c2", 1)]
    shards = make_shards(given, max_bytes=1000)
    assert [[f.path for f in s.files] for s in shards] == [["a"], ["b"]]


def test_mixed_sizes_respect_both_bounds() -> None:
    rng = random.Random(11)
    given = [InputFile(f"f{i:04d}", f"c{i}", rng.randrange(0, 400)) for i in range(1000)]
    shards = make_shards(given, max_files=50, max_bytes=5000, min_shards=3)
    for shard in shards:
        assert len(shard.files) <= 50
        assert shard.bytes <= 5000
    check_cover(shards, given)


def test_shards_follow_path_order_not_input_order() -> None:
    given = [
        InputFile("b", "c1", 1),
        InputFile("a.txt", "c2", 1),
        InputFile("a/z", "c3", 1),
        InputFile("a/b", "c4", 1),
    ]
    shards = make_shards(given, min_shards=2)
    assert [[f.path for f in s.files] for s in shards] == [["a/b", "a/z"], ["a.txt", "b"]]


def test_shuffled_input_gives_the_same_shards() -> None:
    given = files(300)
    shuffled = list(given)
    random.Random(5).shuffle(shuffled)
    assert make_shards(shuffled, min_shards=7) == make_shards(given, min_shards=7)


def test_shard_bytes_is_the_sum_of_its_file_sizes() -> None:
    shard = Shard(0, (InputFile("a", "c", 3), InputFile("b", "d", 4)))
    assert shard.bytes == 7
    assert Shard(1, ()).bytes == 0
