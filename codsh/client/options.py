"""The run options every job takes (`codsh job submit`'s and `codsh pipe`'s), as keywords."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

from codsh.core.bill import check_max_price
from codsh.core.sampling import DEFAULT_VERIFY_REPLICAS, parse_verify
from codsh.core.spec import MAX_REPLICAS, Limits, RunTarget
from codsh.errors import InputError

SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


class RunOptions(TypedDict, total=False):
    """The keywords of `Client.submit` and `Client.pipe` (docs/sdk.md)."""

    select: dict[str, str] | None  # node labels a node must have (--select)
    shard_size: int
    memo: bool  # False: --no-memo
    timeout: float  # seconds per file
    memory: int | str  # per container: "512m", "4g" or bytes
    cpus: float
    pids: int
    output_limit: int | str  # stdout per file
    slots: int  # containers at once on one node (0: the CPU count)
    find_timeout: float  # seconds to find the input CID
    image: str | None
    name: str | None  # e.g. "nightly": `client.job("nightly")` is its latest run
    ok_exit: Sequence[int]  # exit statuses that succeed (--ok-exit); () is 0 and grep's 1
    publish: Sequence[str]  # also copy the output to dir:PATH or s3://BUCKET/PREFIX (--publish)
    overwrite: bool  # publish may replace a non-empty directory, objects that differ
    max_price: float | None  # stop the run when its bill reaches it (--max-price)


class SubmitOptions(RunOptions, total=False):
    """`Client.submit`'s keywords: the run options and these."""

    concat: bool
    fuel: int
    requirements: str | Path | None
    replicas: int
    verify: str | None


DEFAULTS: dict[str, Any] = {
    "select": None,
    "shard_size": RunTarget.shard_size,
    "memo": True,
    "timeout": Limits.timeout,
    "memory": "512m",
    "cpus": Limits.cpus,
    "pids": Limits.pids,
    "output_limit": "4g",
    "slots": 0,
    "find_timeout": RunTarget.find_timeout,
    "image": None,
    "name": None,
    "ok_exit": (),
    "publish": (),
    "overwrite": False,
    "max_price": None,
}


def run_parts(options: Mapping[str, Any], fuel: int = Limits.fuel) -> tuple[Limits, RunTarget]:
    """The limits and the target `options` give (the defaults are the CLI's)."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"unknown keyword argument(s): {', '.join(unknown)}")
    given = {**DEFAULTS, **options}
    if given["shard_size"] < 1 or given["slots"] < 0 or fuel < 1:
        raise InputError("shard_size and fuel must be at least 1, slots at least 0")
    select = dict(given["select"] or {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in select.items()):
        raise InputError("select maps labels to strings", 'e.g. select={"zone": "eu"}')
    limits = Limits(
        timeout=float(given["timeout"]),
        memory=size(given["memory"]),
        cpus=float(given["cpus"]),
        pids=int(given["pids"]),
        output=size(given["output_limit"]),
        fuel=fuel,
    )
    target = RunTarget(
        select=select,
        shard_size=int(given["shard_size"]),
        find_timeout=float(given["find_timeout"]),
        memo=bool(given["memo"]),
        slots=int(given["slots"]),
        publish=publish_targets(given["publish"]),
        overwrite=bool(given["overwrite"]),
        max_price=check_max_price(given["max_price"]),
    )
    return limits, target


def publish_targets(targets: Sequence[str]) -> tuple[str, ...]:
    """The `publish` keyword, checked (core/publish parses the targets)."""
    from codsh.core.publish import parse_targets

    if isinstance(targets, str | bytes) or not all(isinstance(t, str) for t in targets):
        raise InputError("publish is a list of targets", 'e.g. publish=["s3://bucket/prefix"]')
    parse_targets(targets)
    return tuple(targets)


def ok_statuses(options: Mapping[str, Any]) -> tuple[int, ...]:
    """The `ok_exit` keyword, checked: a list of exit statuses (core/exits)."""
    statuses = options.get("ok_exit") or ()
    if isinstance(statuses, str | bytes) or not all(
        isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= 255 for s in statuses
    ):
        raise InputError("ok_exit is a list of exit statuses (0-255)", "e.g. ok_exit=[0, 1]")
    return tuple(sorted(set(statuses)))


def check_verify(verify: str | None, replicas: int) -> tuple[float, int]:
    """The `verify` keyword ('sample:P') as a fraction, and the replicas it implies (3 when
    `replicas` was left at 1)."""
    if verify is None:
        return 0.0, replicas
    try:
        fraction = parse_verify(verify)
    except (ValueError, AttributeError, TypeError) as exc:
        raise InputError(f"verify={verify!r}: {exc}", "e.g. verify='sample:0.1'") from None
    return fraction, replicas if replicas > 1 else DEFAULT_VERIFY_REPLICAS


def check_replicas(replicas: int) -> int:
    """The `replicas` keyword, checked (core/spec.MAX_REPLICAS at most)."""
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        raise InputError(f"replicas={replicas!r} is not a whole number", "e.g. replicas=3")
    if not 1 <= replicas <= MAX_REPLICAS:
        raise InputError(f"replicas={replicas}: from 1 to {MAX_REPLICAS}", "e.g. replicas=3")
    return replicas


def size(value: int | str) -> int:
    """`512m`, `4g`, `100k`, or a byte count."""
    if isinstance(value, int):
        return value
    text = str(value).strip().lower().removesuffix("b").removesuffix("i")
    unit = text[-1:] if text[-1:] in SIZE_UNITS else ""
    try:
        return int(float(text[: len(text) - len(unit)]) * SIZE_UNITS[unit])
    except ValueError:
        raise InputError(f"{value!r} is not a size", "e.g. 512m, 4g, or a byte count") from None
