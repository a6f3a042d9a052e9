"""Sampled verification (pure, no daemons): how many files are checked, which, and the chance
of catching a node that lies on c of them."""

from __future__ import annotations

import math
import random

import pytest

from codsh.core.inventory import Verify
from codsh.core.model import InputFile
from codsh.core.plan import Node, place_replicas
from codsh.core.sampling import catch_chance, chance_line, parse_verify, sample
from codsh.core.spec import spec_from_request as from_api
from codsh.errors import InputError


@pytest.mark.parametrize(("text", "fraction"), [("sample:0.1", 0.1), ("sample:25%", 0.25)])
def test_parse_verify(text: str, fraction: float) -> None:
    assert parse_verify(text) == pytest.approx(fraction)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("0.1", "is not sample:P"),
        ("sample:x", "is not a number"),
        ("sample:0", "more than 0"),
        ("sample:1.5", "at most 1"),
        ("sample:nan", "more than 0"),
    ],
)
def test_a_malformed_verify_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_verify(text)


def test_sample_takes_the_fraction_rounded_up_and_every_suspect_file() -> None:
    paths = [f"{i}.log" for i in range(100)]
    chosen = sample(paths, 0.05, ["99.log", "98.log"], random.Random(1))
    assert {"99.log", "98.log"} <= chosen and 5 <= len(chosen) <= 7
    assert len(sample(paths[:3], 0.01, [], random.Random(1))) == 1  # at least one
    assert sample([], 0.5, [], random.Random(1)) == frozenset()


def test_catch_chance_is_hypergeometric() -> None:
    assert catch_chance(100, 10, 1) == pytest.approx(0.1)
    assert catch_chance(100, 10, 2) == pytest.approx(1 - (90 * 89) / (100 * 99))
    assert catch_chance(10, 9, 2) == 1.0 and catch_chance(10, 0, 3) == 0.0
    assert catch_chance(10_000, 1_000, 20) == pytest.approx(1 - 0.9**20, abs=0.01)
    line = chance_line(100, 10, 3)
    assert line == (
        "verified 10 of 100 file(s) on 3 replicas; the chance to catch a node that lies on "
        "1 file: 10%, on 5: 42%, on 20: 90%"
    )


def test_the_checked_files_get_replicas_on_other_nodes_the_rest_run_once() -> None:
    files = [InputFile(f"{i}.log", f"cid{i}", 10) for i in range(30)]
    holders = {f.cid: frozenset({["a", "b", "c"][i % 3]}) for i, f in enumerate(files)}
    nodes = [Node(n, 1, {}) for n in ("a", "b", "c")]
    verify = Verify(0.1, frozenset({"b"}), random.Random(7))
    placements = place_replicas(files, holders, nodes, 3, checked=verify.checked({}))
    runs: dict[str, list[str]] = {}
    for placement in placements:
        for task in placement.tasks:
            for file in task.shard.files:
                runs.setdefault(file.path, []).append(task.node)
    assert len(runs) == 30
    checked = {path for path, on in runs.items() if len(on) > 1}
    on_b = {f.path for i, f in enumerate(files) if i % 3 == 1}
    assert on_b <= checked and len(checked) >= len(on_b) + math.ceil(0.1 * 30) - 3
    assert all(len(set(runs[p])) == 3 for p in checked)  # three distinct nodes
    assert all(len(on) == 1 for p, on in runs.items() if p not in checked)


def test_the_api_refuses_verify_without_replicas_or_out_of_range() -> None:
    base = {"command": "cat", "input": "bafkqaaa"}
    assert from_api({**base, "replicas": 3, "verify": 0.1}).verify == 0.1
    with pytest.raises(InputError, match="needs replicas"):
        from_api({**base, "verify": 0.1})
    with pytest.raises(InputError, match="fraction from 0 to 1"):
        from_api({**base, "replicas": 3, "verify": 2})
