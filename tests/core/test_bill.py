"""The bill: price lists, pricing each run, per-node sums, replicas' share."""

from __future__ import annotations

import pytest

from codsh.core.bill import DEFAULT_PRICES, Meter, PriceError, PriceList, bill, parse_prices
from codsh.core.model import FileResult
from codsh.core.vote import Ballots


def run(path: str, node: str, cpu: float = 1.0, read: int = 0, fetched: int = 0) -> FileResult:
    result = FileResult(path, "bafy" + path, 10, exit_code=0, output_cid="out" + path, node=node)
    result.cpu_seconds, result.bytes_read, result.bytes_fetched = cpu, read, fetched
    result.bytes_written, result.peak_memory = 10**9, 5 << 20
    return result


def test_parse_prices_keeps_defaults_for_keys_left_out() -> None:
    prices = parse_prices("cpu-s=0.5, gb-fetched=2")
    assert prices.as_dict() == {**DEFAULT_PRICES, "cpu-s": 0.5, "gb-fetched": 2.0}
    assert parse_prices("cpu-s=1e-5").cpu_s == 1e-5


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("cpu-s", "not key=price"),
        ("cpu=1", "unknown price 'cpu'"),
        ("cpu-s=abc", "not a number"),
        ("cpu-s=-1", "0 or more"),
        ("cpu-s=nan", "finite"),
        ("cpu-s=1,cpu-s=2", "twice"),
        ("", "not key=price"),
    ],
)
def test_a_malformed_price_list_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(PriceError, match=says):
        parse_prices(text)


def test_cost_is_use_times_the_list() -> None:
    prices = PriceList(cpu_s=2.0, gb_read=3.0, gb_written=5.0, gb_fetched=7.0)
    use = {"cpu_seconds": 1.5, "bytes_read": 10**9, "bytes_written": 2 * 10**9}
    assert prices.cost({**use, "bytes_fetched": 10**9 // 2}) == 3.0 + 3.0 + 10.0 + 3.5


def test_each_node_is_billed_at_its_own_list() -> None:
    meter = Meter({"a": PriceList(1, 0, 0, 0), "b": PriceList(10, 0, 0, 0)}, replicas=1)
    results = [run("x", "a", cpu=2), run("y", "b", cpu=3), run("z", "a", cpu=1)]
    for result in results:
        meter.run(result)
    billed = bill(results)
    assert billed["nodes"]["a"]["cost"] == 3.0 and billed["nodes"]["a"]["files"] == 2
    assert billed["nodes"]["b"]["cost"] == 30.0 and billed["nodes"]["b"]["cpu_seconds"] == 3
    assert billed["total"] == 33.0 and billed["replication"] == 0
    assert billed["nodes"]["a"]["peak_memory"] == 5 << 20  # the largest, not a sum


def test_replicas_are_billed_and_the_bill_shows_their_share() -> None:
    """Three replicas of one file: all three runs are paid; two of them are what replication
    added (the output links to one). An outvoted replica is paid too: it ran."""
    lists = {n: PriceList(1, 0, 0, 0) for n in ("a", "b", "c")}
    meter = Meter(lists, replicas=3)
    voted: list[FileResult] = []
    ballots = Ballots(3, meter.after_vote(voted.append))
    add = meter.chain(ballots.add)
    add(run("x", "a", cpu=1))
    add(run("x", "b", cpu=2))
    liar = run("x", "c", cpu=4)
    liar.output_cid = "a lie"
    add(liar)
    (result,) = voted
    assert result.cost == 7.0
    assert sorted(r["node"] for r in result.replica_use or []) == ["a", "b", "c"]
    billed = bill(voted)
    assert billed["total"] == 7.0
    assert billed["replication"] == 7.0 - {"a": 1, "b": 2}[result.node]
    assert {n: e["cost"] for n, e in billed["nodes"].items()} == {"a": 1.0, "b": 2.0, "c": 4.0}


def test_reused_results_cost_nothing_and_a_node_without_a_list_pays_defaults() -> None:
    meter = Meter({}, replicas=1)
    fresh, old = run("x", "a", cpu=1), run("y", "a", cpu=100)
    old.reused = True
    for result in (fresh, old):
        meter.run(result)
    billed = bill([fresh, old])
    assert billed["nodes"]["a"]["files"] == 1
    assert billed["total"] == PriceList().cost({"cpu_seconds": 1, "bytes_written": 10**9})


def test_a_one_node_job_is_local_and_free_unless_priced() -> None:
    result = run("x", "", cpu=2)
    assert bill([result])["nodes"]["local"]["cost"] == 0
    assert bill([result], local=PriceList(1, 0, 0, 0))["total"] == 2.0
