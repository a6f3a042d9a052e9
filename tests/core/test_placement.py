"""Locality placement: pure unit tests, no daemons."""

from __future__ import annotations

import pytest

from codsh.core.model import InputFile
from codsh.core.plan import Node, Placement, PlacementError, place, replacement_node

NODES = [Node("n0"), Node("n1"), Node("n2")]


def files(count: int, size: int = 100) -> list[InputFile]:
    return [InputFile(f"d/f{i:04d}", f"cid{i}", size) for i in range(count)]


def spread(given: list[InputFile], names: list[str], k: int) -> dict[str, frozenset[str]]:
    """Each file held by k nodes, round robin (what `codsh devstack add --spread k` does)."""
    return {
        f.cid: frozenset(names[(i + j) % len(names)] for j in range(k)) for i, f in enumerate(given)
    }


def placed_files(placement: Placement) -> list[str]:
    return sorted(f.path for task in placement.tasks for f in task.shard.files)


def test_spread_once_everything_runs_where_it_is_stored() -> None:
    given = files(30)
    holders = spread(given, ["n0", "n1", "n2"], 1)
    placement = place(given, holders, NODES)
    assert placement.locality == 1.0 and placement.bytes_moved == 0
    for task in placement.tasks:
        assert all(task.node in holders[f.cid] for f in task.shard.files)
    assert placement.shards_per_node() == {"n0": 1, "n1": 1, "n2": 1}
    assert placed_files(placement) == sorted(f.path for f in given)


def test_replicas_spread_the_load() -> None:
    given = files(300)
    placement = place(given, spread(given, ["n0", "n1", "n2"], 2), NODES)
    assert placement.locality == 1.0
    per_node = {
        t.node: sum(len(x.shard.files) for x in placement.tasks if x.node == t.node)
        for t in placement.tasks
    }
    assert set(per_node) == {"n0", "n1", "n2"}
    assert max(per_node.values()) - min(per_node.values()) <= 1


def test_a_file_nobody_holds_is_fetched_by_the_least_loaded_node() -> None:
    given = files(4, size=1000)
    holders = {"cid0": frozenset({"n0"}), "cid1": frozenset({"n0"}), "cid2": frozenset({"n1"})}
    placement = place(given, holders, NODES)
    fetcher = [t for t in placement.tasks if any(f.cid == "cid3" for f in t.shard.files)]
    assert [t.node for t in fetcher] == ["n2"]  # n0 and n1 already have work
    assert placement.bytes_moved == 1000
    assert placement.locality == pytest.approx(3000 / 4000)


def test_a_holder_outside_the_selector_is_not_used() -> None:
    nodes = [Node("n0", labels={"region": "eu"}), Node("n1", labels={"region": "us"})]
    given = files(2)
    holders = {"cid0": frozenset({"n1"}), "cid1": frozenset({"n0"})}
    placement = place(given, holders, nodes, select={"region": "eu"})
    assert {t.node for t in placement.tasks} == {"n0"}
    assert placement.bytes_moved == 100  # cid0 must come from n1


def test_no_node_matches_the_selector() -> None:
    with pytest.raises(PlacementError, match="gpu=yes"):
        place(files(1), {}, NODES, select={"gpu": "yes"})
    with pytest.raises(PlacementError):
        place(files(1), {}, [])


def test_slots_give_a_node_several_shards() -> None:
    given = files(40)
    holders = {f.cid: frozenset({"big"}) for f in given}
    placement = place(given, holders, [Node("big", slots=4), Node("small")])
    assert placement.shards_per_node() == {"big": 4}
    assert [t.shard.index for t in placement.tasks] == [0, 1, 2, 3]


def test_shards_respect_max_files_and_keep_path_order() -> None:
    given = files(25)
    placement = place(given, {f.cid: frozenset({"n0"}) for f in given}, NODES, max_files=10)
    sizes = [len(t.shard.files) for t in placement.tasks]
    assert max(sizes) <= 10 and sum(sizes) == 25
    flat = [f.path for t in placement.tasks for f in t.shard.files]
    assert flat == sorted(flat)


def test_empty_input_and_determinism() -> None:
    empty = place([], {}, NODES)
    assert empty.tasks == [] and empty.locality == 1.0
    given = files(50)
    holders = spread(given, ["n0", "n1", "n2"], 2)
    assert place(given, holders, NODES) == place(list(reversed(given)), holders, NODES)


def test_a_lost_shard_goes_to_the_node_storing_most_of_it() -> None:
    shard = place(files(3, size=10), {}, [Node("gone")]).tasks[0].shard
    holders = {"cid0": frozenset({"n1"}), "cid1": frozenset({"n2"}), "cid2": frozenset({"n2"})}
    assert replacement_node(shard, holders, ["n0", "n1", "n2"], {}) == "n2"
    assert replacement_node(shard, {}, ["n0", "n1", "n2"], {"n0": 2, "n1": 1, "n2": 1}) == "n1"
    with pytest.raises(PlacementError):
        replacement_node(shard, holders, [], {})
