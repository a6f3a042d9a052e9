"""The driver <-> node messages: plain JSON types on the wire, the same records back."""

from __future__ import annotations

import json
from typing import Any

from codsh.cluster.messages import FileDone, InventoryAnswer, ShardAnswer
from codsh.core.model import FileResult, Outcome, Setup

RESULT = FileResult("a/b.log", "cid-in", 12, exit_code=1, error="exited with code 1")
RESULT.outcome = Outcome.EXITED


def through_the_wire(wire: object) -> Any:
    """What a msgpack or JSON hop leaves of it: no codsh class, tuples become lists."""
    return json.loads(json.dumps(wire))


def test_an_inventory_answer_round_trips() -> None:
    answer = InventoryAnswer(True, {"gpu": "yes"}, 4, ("cid1", "cid2"), "12D3Koo", missing=("o1",))
    assert InventoryAnswer.from_wire(through_the_wire(answer.to_wire())) == answer
    sick = InventoryAnswer(False, slots=2, error="kubo does not answer")
    assert InventoryAnswer.from_wire(through_the_wire(sick.to_wire())) == sick


def test_a_shard_answer_round_trips_with_its_setup_or_its_infrastructure_error() -> None:
    setup = Setup("image+bundle", built=True, seconds=1.5)
    answer = ShardAnswer("tcp://127.0.0.1:1", (RESULT,), setup)
    back = ShardAnswer.from_wire(through_the_wire(answer.to_wire()))
    assert back == answer and back.results[0].outcome is Outcome.EXITED
    broken = ShardAnswer("tcp://127.0.0.1:1", (RESULT,), infrastructure_error="kubo is gone")
    assert ShardAnswer.from_wire(through_the_wire(broken.to_wire())) == broken


def test_a_file_done_message_round_trips_and_other_events_are_not_one() -> None:
    done = FileDone("job1", 3, "tcp://127.0.0.1:1", RESULT, "codsh cat-job1-0a1b-shard-0-3")
    wire = through_the_wire(done.to_wire())
    assert FileDone.from_wire(wire) == done
    wire["worker"] = "tcp://127.0.0.1:1"  # what the scheduler adds to a worker's event
    assert FileDone.from_wire(wire) == done
    assert FileDone.from_wire({"action": "add-client", "client": "Client-1"}) is None
    assert FileDone.from_wire("print me") is None


def test_the_dashboard_names_a_shard_task_by_its_command_and_its_key_carries_the_job() -> None:
    from dask.utils import key_split

    from codsh.cluster.tasks import task_name

    name = task_name("sed -n '/38.7[2-4]....,-9.1[3-5]..../p'")
    key = f"{name}-1b484d1e1415-ab12cd34-shard-3-1"
    assert key_split(key) == name == "codsh sed n /38.7 2 4 ...., 9.1 3 5 ..../p"
    assert "1b484d1e1415" in key
    assert task_name("") == "codsh" and len(task_name("x" * 500)) <= 46
