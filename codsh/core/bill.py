"""The bill: what each file's run used x the price list of the node that ran it. Pure logic.

A node publishes its price list when it joins (`codsh node join --price cpu-s=...,gb-read=...,
gb-written=...,gb-fetched=...`); the driver prices every run, replicas included, with the list
the node answered the job's inventory round with. A file run on N replicas costs the N runs:
the bill shows what replication added (`replication`: every run but the one the output links to).
Results taken from the memo were paid for by the job that ran them: they cost nothing here.
Prices are in whatever unit the cluster's members agree on; reading and writing are per GB
(10^9 bytes), CPU per second.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from codsh.core.model import FileResult
from codsh.errors import InputError

GB = 1e9
PRICE_KEYS = ("cpu-s", "gb-read", "gb-written", "gb-fetched")
# What a node charges when it joins without --price (documented in docs/cluster.md and README):
# fetching from another node costs more than reading what it stores, so locality is cheaper.
DEFAULT_PRICES = {"cpu-s": 0.00002, "gb-read": 0.001, "gb-written": 0.004, "gb-fetched": 0.01}
USE_KEYS = (
    "cpu_seconds",
    "peak_memory",
    "bytes_read",
    "bytes_fetched",
    "bytes_written",
    "seconds",
    "container_starts",
    "fuel",
)


class PriceError(ValueError):
    """A price list that cannot be read (the message says which part and why)."""


@dataclass(frozen=True)
class PriceList:
    cpu_s: float = DEFAULT_PRICES["cpu-s"]
    gb_read: float = DEFAULT_PRICES["gb-read"]
    gb_written: float = DEFAULT_PRICES["gb-written"]
    gb_fetched: float = DEFAULT_PRICES["gb-fetched"]

    def as_dict(self) -> dict[str, float]:
        values = (self.cpu_s, self.gb_read, self.gb_written, self.gb_fetched)
        return dict(zip(PRICE_KEYS, values, strict=True))

    @classmethod
    def from_dict(cls, prices: Mapping[str, Any]) -> PriceList:
        values = {key: float(prices.get(key, DEFAULT_PRICES[key])) for key in PRICE_KEYS}
        return cls(*values.values())

    def cost(self, use: Mapping[str, float]) -> float:
        """What `use` (a run's metered fields) costs at this list."""
        total = (
            use.get("cpu_seconds", 0) * self.cpu_s
            + use.get("bytes_read", 0) / GB * self.gb_read
            + use.get("bytes_written", 0) / GB * self.gb_written
            + use.get("bytes_fetched", 0) / GB * self.gb_fetched
        )
        return round(total, 12)


def parse_prices(text: str) -> PriceList:
    """`cpu-s=0.00002,gb-read=0.001,...`: any of the four keys, the others at their default."""
    values: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        key, sep, raw = part.partition("=")
        key = key.strip()
        if not sep:
            raise PriceError(f"{part!r} is not key=price")
        if key not in PRICE_KEYS:
            raise PriceError(f"unknown price {key!r} (the keys are {', '.join(PRICE_KEYS)})")
        if key in values:
            raise PriceError(f"{key} is given twice")
        try:
            value = float(raw)
        except ValueError:
            raise PriceError(f"{key}={raw!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise PriceError(f"{key}={raw} must be a finite price, 0 or more")
        values[key] = value
    return PriceList.from_dict(values)


def check_max_price(value: object) -> float | None:
    """A `--max-price` (or the API's target.max_price): a finite number, 0 or more; None: none."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InputError("max_price must be a number", "e.g. 0.05, in the price lists' unit")
    try:
        price = float(value)
    except ValueError:
        raise InputError(f"max price {value!r} is not a number", "e.g. --max-price 0.05") from None
    if not math.isfinite(price) or price < 0:
        raise InputError(
            f"max price {value} must be a finite price, 0 or more", "e.g. --max-price 0.05"
        )
    return price


class Limit:
    """The price limit of one run of a job (`--max-price`): what its runs cost so far, priced as
    the bill prices them (a run with no node, on one machine, at `local`), and whether that
    reached the limit. The caller stops the job when it has."""

    def __init__(self, limit: float, local: PriceList | None = None) -> None:
        self.limit = limit
        self.local = local or PriceList()
        self.spent = 0.0

    def add(self, result: FileResult) -> bool:
        """Count `result` (a file's final result, every replica's run in it); True once the
        bill reached the limit. Results from the memo cost nothing."""
        if not result.reused:
            self.spent += result.cost if result.node else self.local.cost(use_of(result))
        return self.reached

    @property
    def reached(self) -> bool:
        return self.spent >= self.limit

    def line(self) -> str:
        """What the summary says when the job stopped at its limit."""
        spent, limit = f"{self.spent:.6g}", f"{self.limit:g}"
        return f"stopped at the price limit: what ran cost {spent} of --max-price {limit}"


def use_of(result: FileResult) -> dict[str, float]:
    """The metered fields of one run."""
    return {key: getattr(result, key) for key in USE_KEYS}


class Meter:
    """Prices every run of a job as it arrives (each replica before the vote), and gives each
    voted result the use and cost of all its replicas. `prices`: node name -> its list."""

    def __init__(self, prices: Mapping[str, PriceList], replicas: int) -> None:
        self.prices = prices
        self.replicas = replicas
        self._runs: dict[str, list[dict[str, Any]]] = {}

    def run(self, result: FileResult) -> None:
        """One run of a file (one replica's, before any vote)."""
        price(result, self.prices.get(result.node, PriceList()))
        if self.replicas > 1:
            entry = {"node": result.node, **use_of(result), "cost": result.cost}
            self._runs.setdefault(result.path, []).append(entry)

    def voted(self, result: FileResult) -> None:
        """The voted result of a replicated file: every replica's run is on its bill."""
        runs = self._runs.pop(result.path, None)
        if runs is not None:
            broken = {b["node"] for b in (result.vote or {}).get("broken", [])}
            for entry in runs:
                if entry["node"] in broken:  # it broke commit before reveal: not paid
                    entry.update(cost=0.0, unpaid="broke commit before reveal")
            result.replica_use = runs
            result.cost = round(sum(r["cost"] for r in runs), 12)

    def chain(self, step: Callable[[FileResult], None]) -> Callable[[FileResult], None]:
        """`run`, then `step` (the vote, or the job's sink)."""

        def both(result: FileResult) -> None:
            self.run(result)
            step(result)

        return both

    def after_vote(self, step: Callable[[FileResult], None]) -> Callable[[FileResult], None]:
        """`voted`, then `step` (the job's sink)."""

        def both(result: FileResult) -> None:
            self.voted(result)
            step(result)

        return both


def price(result: FileResult, prices: PriceList) -> None:
    """Set the cost of one unreplicated run."""
    if result.replica_use is None:
        result.cost = prices.cost(use_of(result))


def bill(results: Iterable[FileResult], local: PriceList | None = None) -> dict[str, Any]:
    """Per node: the files it ran, their summed use and what it costs; and the total. Runs with
    no node (a one-node job) are priced with `local` (none: free) under the name "local"."""
    nodes: dict[str, dict[str, float]] = {}
    total = chosen = 0.0
    for result in results:
        if result.reused:
            continue
        runs = result.replica_use or [{"node": result.node, **use_of(result), "cost": None}]
        linked = False  # the run the output links to is counted once (a replica's first agreeing)
        for run in runs:
            cost = run["cost"]
            if cost is None:
                cost = result.cost if result.node or local is None else local.cost(run)
            _add(nodes.setdefault(run["node"] or "local", _empty()), run, cost)
            total += cost
            if not linked and (result.replica_use is None or run["node"] == result.node):
                chosen, linked = chosen + cost, True
    for entry in nodes.values():
        entry["cost"] = round(entry["cost"], 12)
    return {"nodes": nodes, "total": round(total, 12), "replication": round(total - chosen, 12)}


def _empty() -> dict[str, float]:
    return {"files": 0, **dict.fromkeys(USE_KEYS, 0), "cost": 0.0}


def _add(entry: dict[str, float], run: Mapping[str, Any], cost: float) -> None:
    entry["files"] += 1
    for key in USE_KEYS:
        value = run.get(key, 0) or 0
        entry[key] = max(entry[key], value) if key == "peak_memory" else entry[key] + value
    entry["cpu_seconds"] = round(entry["cpu_seconds"], 6)
    entry["seconds"] = round(entry["seconds"], 4)
    entry["cost"] += cost
