"""--max-price's counting (core/bill.Limit) and its checking: pure."""

from __future__ import annotations

import pytest

from codsh.core.bill import Limit, PriceList, check_max_price
from codsh.core.model import FileResult
from codsh.errors import InputError


def result(node: str = "", cost: float = 0.0, cpu: float = 0.0, reused: bool = False) -> FileResult:
    return FileResult(
        "p", "bafyp", 1, exit_code=0, node=node, cost=cost, cpu_seconds=cpu, reused=reused
    )


def test_a_limit_counts_node_costs_and_prices_local_runs_at_the_default_list() -> None:
    limit = Limit(1.0)
    assert not limit.add(result("node0", cost=0.4))
    assert not limit.add(result(cpu=0.5 / PriceList().cpu_s * 0.999))  # one machine: default list
    assert not limit.add(result("node1", cost=5.0, reused=True))  # from the memo: free
    assert limit.add(result("node1", cost=0.2))
    assert limit.reached and "of --max-price 1" in limit.line()


def test_a_zero_limit_stops_at_the_first_run() -> None:
    assert Limit(0.0).add(result("node0"))


@pytest.mark.parametrize("value", [-1, "-0.5", "abc", "inf", float("nan"), True, [1]])
def test_a_negative_or_non_numeric_max_price_is_refused(value: object) -> None:
    with pytest.raises(InputError):
        check_max_price(value)


def test_a_max_price_is_a_number_or_none() -> None:
    assert check_max_price(None) is None
    assert check_max_price("0.5") == 0.5 and check_max_price(2) == 2.0


def test_the_api_spec_carries_a_max_price_and_refuses_a_bad_one() -> None:
    from codsh.core.spec import spec_from_request

    fields = {"command": "wc -c", "input": "bafkqaaa"}
    assert spec_from_request({**fields, "target": {"max_price": 0.5}}).target.max_price == 0.5
    assert spec_from_request(fields).target.max_price is None
    with pytest.raises(InputError, match="0 or more"):
        spec_from_request({**fields, "target": {"max_price": -1}})
