"""Job spec files: a YAML (or JSON) file with the fields of `codsh job submit`'s flags, so that a
command line becomes a file to keep in git (`codsh job submit ... --dry-run` writes one).

A file is turned into the very parameters the flags give (`to_params`), and those run through the
same code as the command line: a spec is the same job whichever way it came (same memo key, same
output CID). Errors name the field and its line. Pure logic: parsing, checking, rendering.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from codsh.core.exits import parse_ok_exit
from codsh.core.sampling import parse_verify
from codsh.core.spec import MAX_REPLICAS
from codsh.errors import InputError

HINT = "see `codsh job run --help` for the fields; `codsh job submit ... --dry-run` writes a file"


@dataclass(frozen=True)
class Field:
    """One field of a spec file: the submit parameter it sets and how its value is checked."""

    param: str
    kinds: tuple[type, ...]
    convert: Callable[[Any], Any] = lambda value: value
    render: Callable[[Any], Any] = lambda value: value


def _select(value: Mapping[str, Any]) -> tuple[str, ...]:
    if not all(isinstance(k, str) and isinstance(v, str | int) for k, v in value.items()):
        raise ValueError("select maps node labels to values, e.g. {zone: eu}")
    return tuple(f"{k}={v}" for k, v in value.items())


def _statuses(value: list[Any]) -> str:
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError("ok_exit is a list of exit statuses, e.g. [0, 1]")
    return ",".join(str(v) for v in parse_ok_exit(",".join(str(v) for v in value)))


def _replicas(value: int) -> int:
    if not 1 <= value <= MAX_REPLICAS:
        raise ValueError(f"from 1 to {MAX_REPLICAS} (nodes each file runs on)")
    return value


def _verify(value: str) -> str:
    parse_verify(value)  # says what is wrong
    return value


def _max_price(value: float) -> float:
    from codsh.core.bill import check_max_price

    try:
        return float(check_max_price(value) or 0.0)
    except InputError as exc:
        raise ValueError(exc.message) from None


NUMBER = (int, float)
KIND_NAMES = {
    int: "number",
    float: "number",
    str: "string",
    bool: "true/false",
    dict: "mapping",
    list: "list",
}
FIELDS: dict[str, Field] = {
    "command": Field("command", (str,)),
    "function": Field("script", (str,)),
    "fn": Field("function", (str,)),
    "requirements": Field("requirements", (str,)),
    "program": Field("program", (str,)),
    "input": Field("cid", (str,)),
    "concat": Field("concat", (bool,)),
    "image": Field("image", (str,)),
    "timeout": Field("timeout", NUMBER, float),
    "memory": Field("memory", (str, int), str),
    "cpus": Field("cpus", NUMBER, float),
    "pids": Field("pids", (int,)),
    "output_limit": Field("output_limit", (str, int), str),
    "fuel": Field("fuel", (int,)),
    "slots": Field("slots", (int,)),
    "shard_size": Field("shard_size", (int,)),
    "find_timeout": Field("find_timeout", NUMBER, float),
    "select": Field(
        "select", (dict,), _select, lambda labels: dict(x.split("=", 1) for x in labels)
    ),
    "memo": Field("no_memo", (bool,), lambda memo: not memo, lambda no_memo: not no_memo),
    "ok_exit": Field("ok_exit", (list,), _statuses, lambda text: [int(x) for x in text.split(",")]),
    "name": Field("name", (str,)),
    "replicas": Field("replicas", (int,), _replicas),
    "verify": Field("verify", (str,), _verify),
    "max_price": Field("max_price", NUMBER, lambda value: _max_price(value)),
}
PATH_FIELDS = ("function", "requirements")  # relative to the spec file's folder


def parse(text: str, source: str) -> dict[str, tuple[Any, int]]:
    """The fields of a spec file with the line each is on (1-based); an InputError naming the
    line for a file that is not a mapping of known fields."""
    try:
        root = yaml.compose(text)
        values = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"{source}{where}: not valid YAML or JSON ({problem})", HINT) from None
    if not isinstance(root, yaml.MappingNode) or not isinstance(values, dict):
        raise InputError(
            f"{source}: a spec file is a mapping of fields (command: ..., input: ...)", HINT
        )
    lines = {key.value: key.start_mark.line + 1 for key, _ in root.value}
    fields: dict[str, tuple[Any, int]] = {}
    for name, value in values.items():
        line = lines.get(str(name), 0)
        if name not in FIELDS:
            known = ", ".join(FIELDS)
            raise InputError(
                f"{source}, line {line}: unknown field {name!r}", f"the fields: {known}"
            )
        fields[name] = (value, line)
    return fields


def parse_setting(text: str) -> tuple[str, Any]:
    """`--set key=value` (the value read as YAML: `timeout=10` is a number, `memo=false` a bool)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise InputError(f"--set {text!r}: expected KEY=VALUE", "e.g. --set timeout=60")
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    if key.startswith("select."):
        return "select", {key.removeprefix("select."): str(value)}
    return key, value


def to_params(fields: Mapping[str, tuple[Any, int]], source: str) -> dict[str, Any]:
    """The `codsh job submit` parameters the fields set, each checked against its type."""
    params: dict[str, Any] = {}
    for name, (value, line) in fields.items():
        spec = FIELDS.get(name)
        where = f"{source}, line {line}" if line else source
        if spec is None:
            raise InputError(f"{where}: unknown field {name!r}", f"the fields: {', '.join(FIELDS)}")
        if isinstance(value, bool) and bool not in spec.kinds or not isinstance(value, spec.kinds):
            wanted = " or ".join(dict.fromkeys(KIND_NAMES[k] for k in spec.kinds))
            raise InputError(f"{where}: {name} must be a {wanted}, not {value!r}", HINT)
        try:
            params[spec.param] = spec.convert(value)
        except ValueError as exc:
            raise InputError(f"{where}: {name}: {exc}", HINT) from None
    if sum(key in params for key in ("command", "script", "program")) != 1:
        raise InputError(f"{source}: give one of command, function or program", HINT)
    return params


def render(params: Mapping[str, Any]) -> str:
    """A spec file (YAML) for the given `codsh job submit` parameters, fields in FIELDS order."""
    by_param = {spec.param: (name, spec) for name, spec in FIELDS.items()}
    document: dict[str, Any] = {}
    for param, value in params.items():
        if param in by_param and value is not None:
            name, spec = by_param[param]
            document[name] = spec.render(
                os.fspath(value) if isinstance(value, os.PathLike) else value
            )
    ordered = {name: document[name] for name in FIELDS if name in document}
    text = yaml.dump(_Root(ordered), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return str(text)


class _Root(dict[str, Any]):
    """The document: one field a line; the lists and mappings inside it stay on their line."""


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML has no type hints
    pass


def _block(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=False)


def _flow_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


def _flow_dict(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


_Dumper.add_representer(_Root, _block)
_Dumper.add_representer(list, _flow_list)
_Dumper.add_representer(dict, _flow_dict)
