"""Inventory answers -> placement: pure unit tests, no daemons."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from codsh.core.inventory import (
    asked_of,
    held_somewhere,
    holders_of,
    left_out,
    output_questions,
    plan_from_inventory,
)
from codsh.core.model import InputFile
from codsh.errors import InputError, ServiceUnavailable


@dataclass(frozen=True)
class Answer:  # the shape of cluster/messages.py InventoryAnswer, without importing the cluster
    healthy: bool
    labels: dict[str, str] = field(default_factory=dict)
    slots: int = 1
    held: tuple[str, ...] = ()
    error: str = ""
    codsh: bool = True
    missing: tuple[str, ...] = ()


FILES = [InputFile(f"f{i}", f"cid{i}", 100) for i in range(6)]


def test_each_file_goes_to_its_holder_and_sick_nodes_take_no_shard() -> None:
    answers = {
        "tcp://a": Answer(True, {"gpu": "yes"}, held=("cid0", "cid1", "cid2")),
        "tcp://b": Answer(True, held=("cid3", "cid4", "cid5")),
        "tcp://c": Answer(False, error="kubo does not answer"),
    }
    placement, held = plan_from_inventory(answers, FILES, {})
    assert placement.locality == 1.0
    assert placement.shards_per_node() == {"tcp://a": 1, "tcp://b": 1}
    assert held["cid0"] == frozenset({"tcp://a"}) and "tcp://c" not in placement.shards_per_node()


def test_a_file_held_by_a_sick_node_only_runs_on_a_healthy_one() -> None:
    answers = {"tcp://a": Answer(True), "tcp://c": Answer(False, held=("cid0",))}
    placement, _ = plan_from_inventory(answers, FILES[:1], {})
    assert [t.node for t in placement.tasks] == ["tcp://a"] and placement.bytes_moved == 100


def test_no_healthy_node_is_a_service_error_naming_each_nodes_trouble() -> None:
    answers = {"tcp://a": Answer(False, error="kubo down"), "tcp://b": Answer(False, error="x")}
    with pytest.raises(ServiceUnavailable, match=r"tcp://a: kubo down; tcp://b: x"):
        plan_from_inventory(answers, FILES, {})
    with pytest.raises(ServiceUnavailable, match="no node joined"):
        plan_from_inventory({}, FILES, {})


def test_a_selector_no_node_matches_is_an_input_error() -> None:
    answers = {"tcp://a": Answer(True, {"gpu": "no"})}
    with pytest.raises(InputError, match="gpu=yes") as caught:
        plan_from_inventory(answers, FILES, {"gpu": "yes"})
    assert "--select" in caught.value.hint


def test_select_and_shard_size_shape_the_placement() -> None:
    answers = {
        "tcp://a": Answer(True, {"gpu": "yes"}, slots=2),
        "tcp://b": Answer(True, held=tuple(f.cid for f in FILES)),
    }
    placement, _ = plan_from_inventory(answers, FILES, {"gpu": "yes"}, shard_size=2)
    assert placement.shards_per_node() == {"tcp://a": 3} and placement.locality == 0.0


def test_holders_of_joins_every_nodes_answer() -> None:
    answers = {"a": Answer(True, held=("x", "y")), "b": Answer(True, held=("y",))}
    assert holders_of(answers) == {"x": frozenset({"a"}), "y": frozenset({"a", "b"})}


def test_a_dask_worker_that_is_not_a_codsh_node_is_left_out_and_named() -> None:
    plain = Answer(False, error="not a codsh node", codsh=False)
    answers = {"tcp://a": Answer(True, held=("cid0",)), "tcp://p": plain}
    placement, _ = plan_from_inventory(answers, FILES, {})
    assert {t.node for t in placement.tasks} == {"tcp://a"}
    assert left_out(answers, {"tcp://p": "plain"}) == {"plain (tcp://p)": "not a codsh node"}
    with pytest.raises(ServiceUnavailable, match=r"plain \(tcp://p\): not a codsh node"):
        plan_from_inventory({"tcp://p": plain}, FILES, {}, names={"tcp://p": "plain"})


def test_each_output_is_asked_of_the_node_that_made_it_or_of_every_node() -> None:
    """A rerun's 10,000s of outputs are asked once each: of their maker, while it is here."""
    outputs = {"out0": "node0", "out1": "node1", "out2": "", "out3": "gone", "out4": "node0"}
    asked = output_questions(outputs, ["node0", "node1", "node2"])
    assert asked == {"node0": ["out0", "out4"], "node1": ["out1"], "": ["out2", "out3"]}
    assert sorted(asked_of(asked, "node0")) == ["out0", "out2", "out3", "out4"]
    assert sorted(asked_of(asked, "node2")) == ["out2", "out3"]


def test_an_output_is_held_when_a_healthy_node_asked_about_it_does_not_lack_it() -> None:
    outputs = {"out0": "node0", "out1": "node0", "out2": "node1", "out3": "", "out4": "node2"}
    asked = output_questions(outputs, ["node0", "node1", "node2", "node3"])
    names = {"tcp://a": "node0", "tcp://b": "node1", "tcp://c": "node2", "tcp://d": "node3"}
    answers = {
        "tcp://a": Answer(True, missing=("out1", "out3")),
        "tcp://b": Answer(True, missing=("out3",)),
        "tcp://c": Answer(False, error="no engine"),  # holds nothing it can give: out4 is gone
        "tcp://d": Answer(True, missing=()),  # holds out3, the output of an unknown maker
    }
    assert held_somewhere(answers, asked, names) == {"out0", "out2", "out3"}
    answers["tcp://d"] = Answer(True, missing=("out3",))
    assert held_somewhere(answers, asked, names) == {"out0", "out2"}


def test_no_healthy_node_holds_no_output() -> None:
    asked = output_questions({"out0": "node0", "out1": ""}, ["node0"])
    names = {"tcp://a": "node0", "tcp://d": "tcp://d"}
    answers = {"tcp://a": Answer(False, error="kubo does not answer"), "tcp://d": Answer(False)}
    assert held_somewhere(answers, asked, names) == set()
    assert held_somewhere({}, asked, names) == set()
    not_codsh = {"tcp://a": Answer(True, codsh=False)}
    assert held_somewhere(not_codsh, asked, names) == set()
