"""The job spec: what to run, on what, with which limits. Canonical JSON makes it content-addressable."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, field, replace
from dataclasses import fields as dataclass_fields
from typing import Any, TypeVar

from codsh.core.bill import check_max_price
from codsh.core.unixfs import check_cid
from codsh.errors import InputError

T = TypeVar("T")
PER_FILE = "per-file"
CONCAT = "concat"
DEFAULT_IMAGE = "codsh/busybox:latest"
PYTHON_IMAGE = "codsh/python:latest"
MAX_REPLICAS = 15
DEFAULT_FIND_TIMEOUT = 30.0  # seconds to wait for an input CID to be found
SHELL, PYTHON, WASM = "shell", "python", "wasm"  # what runs per file: see JobSpec.kind
DEFAULT_FUEL = 10**10  # WASM fuel per file: roughly 10-20 s of CPU


@dataclass(frozen=True)
class Limits:
    """Per-container and per-file limits; every one is enforced by the executor."""

    timeout: float = 300.0  # seconds per file
    memory: int = 512 * 1024 * 1024  # bytes per container
    cpus: float = 1.0
    pids: int = 64
    output: int = 4 * 1024**3  # bytes of stdout per file
    stderr: int = 64 * 1024  # bytes of stderr kept per file
    fuel: int = DEFAULT_FUEL  # WASM modules only: fuel units per file


@dataclass(frozen=True)
class RunTarget:
    """Where and how a job runs, recorded with it so that `codsh job resume` runs it the same way.

    None of it changes a file's result, so none of it is in the memo key."""

    select: dict[str, str] = field(default_factory=dict)  # node labels a node must have
    shard_size: int = 1000  # at most this many files per shard (one container serves a shard)
    find_timeout: float = DEFAULT_FIND_TIMEOUT
    memo: bool = True  # reuse remembered results (results are remembered either way)
    slots: int = 0  # containers at once for a run on one node (0: the CPU count)
    publish: tuple[str, ...] = ()  # where the output is copied at the end (core/publish targets)
    overwrite: bool = False  # publishing may replace a non-empty directory, objects that differ
    max_price: float | None = None  # stop when the bill of what this run ran reaches it (core/bill)


@dataclass(frozen=True)
class JobSpec:
    """`kind` says what runs per file: `command` under sh in `image` (shell), the function of the
    bundle at CID `program` in an environment built from its wheels (python; `command` only
    describes it), or the WASI module at CID `program` (wasm; no image)."""

    command: str
    input: str  # CID or CID/path
    image: str = DEFAULT_IMAGE
    image_digest: str = ""
    mode: str = PER_FILE
    limits: Limits = field(default_factory=Limits)
    kind: str = SHELL
    program: str = ""
    target: RunTarget = field(default_factory=RunTarget)
    ok_exit: tuple[int, ...] = ()  # exit statuses that succeed; () is 0 and grep's 1 (core/exits)
    replicas: int = 1  # nodes each file runs on; their results are voted on (core/vote)
    image_cid: str = ""  # the image as an IPFS folder (core/oci): a node lacking it loads it
    verify: float = 0.0  # replicas run on this fraction of the files only (0: all; core/sampling)

    def canonical_json(self) -> str:
        return canonical_json(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        fields = json.loads(text)
        target = RunTarget(**fields.get("target", {}))  # specs recorded before it: the defaults
        target = replace(target, publish=tuple(target.publish))
        limits = Limits(**fields["limits"])
        ok_exit = tuple(fields.get("ok_exit", ()))
        return cls(**{**fields, "limits": limits, "target": target, "ok_exit": ok_exit})


@dataclass(frozen=True)
class Program:
    """What runs per file, as the user gave it (-e, -f, -x; or the SDK's first argument)."""

    kind: str
    command: str  # the shell command, or what the job record shows for a function or module
    program: str = ""  # the bundle or module CID
    image: str = ""  # the image it runs in ("" for a module)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def check_command(command: str) -> list[str]:
    """Parse `command` as a shell line would be; the raw text later runs under `sh -c`.

    Parsing first turns unbalanced quotes into a clear error here instead of a `sh` error per file.
    """
    if not command.strip():
        raise InputError("the command is empty", 'give one with -e, e.g. -e "grep rain"')
    try:
        words = shlex.split(command, comments=True)
    except ValueError as exc:
        raise InputError(
            f"cannot parse the command {command!r}: {exc}",
            "balance the quotes; to pass a quote to the command, put the whole -e value in the other kind",
        ) from exc
    if not words:
        raise InputError("the command is empty", 'give one with -e, e.g. -e "grep rain"')
    return words


def check_input(path: str) -> str:
    """Validate `CID` or `CID/sub/path` (an /ipfs/ prefix is accepted); returns it without prefix."""
    text = path.strip()
    if text.startswith("/ipfs/"):
        text = text[len("/ipfs/") :]
    elif text.startswith("ipfs://"):
        text = text[len("ipfs://") :]
    root, _, rest = text.partition("/")
    if not root:
        raise InputError("no input CID given", "pass one with -c CID, or pipe a CID on stdin")
    try:
        check_cid(root)
    except ValueError as exc:
        raise InputError(
            f"{root!r} is not a valid CID ({exc})",
            "CIDs look like bafy... or Qm...; `codsh add PATH` prints one for your files",
        ) from exc
    return f"{root}/{rest}".rstrip("/") if rest else root


def spec_from_request(data: object) -> JobSpec:
    """A job spec from an API request's JSON, checked strictly: an unknown field, a value of the
    wrong type, a bad CID or command is an InputError naming it (nothing is guessed)."""
    fields = _object(data, "the job spec")
    _known(fields, {f.name for f in dataclass_fields(JobSpec)}, "the job spec")
    kind = fields.get("kind", SHELL)
    if kind not in (SHELL, PYTHON, WASM):
        raise InputError(f"kind {kind!r} is not one of shell, python, wasm", "leave it out for -e")
    command = _typed(fields, "command", str, "")
    if kind == SHELL:
        check_command(command)
    program = _typed(fields, "program", str, "")
    if kind != SHELL:
        program = check_input(program)
    mode = fields.get("mode", PER_FILE)
    if mode not in (PER_FILE, CONCAT):
        raise InputError(f"mode {mode!r} is not per-file or concat", "leave it out for per-file")
    limits = _object(fields.get("limits", {}), "limits")
    _known(limits, {f.name for f in dataclass_fields(Limits)}, "limits")
    target = _object(fields.get("target", {}), "target")
    _known(target, {f.name for f in dataclass_fields(RunTarget)}, "target")
    select = _object(target.get("select", {}), "target.select")
    if not all(isinstance(v, str) for v in select.values()):
        raise InputError("target.select maps labels to strings", 'e.g. {"zone": "eu"}')
    return JobSpec(
        command=command,
        input=check_input(_typed(fields, "input", str, "")),
        image=_typed(fields, "image", str, DEFAULT_IMAGE),
        image_digest=_typed(fields, "image_digest", str, ""),
        mode=mode,
        limits=Limits(**{k: _number(limits, k, getattr(Limits(), k)) for k in limits}),
        kind=kind,
        program=program,
        target=RunTarget(
            select=dict(select),
            shard_size=max(1, int(_number(target, "shard_size", 1000))),
            find_timeout=float(_number(target, "find_timeout", DEFAULT_FIND_TIMEOUT)),
            memo=_typed(target, "memo", bool, True),
            slots=int(_number(target, "slots", 0)),
            publish=_publish(target.get("publish", [])),
            overwrite=_typed(target, "overwrite", bool, False),
            max_price=check_max_price(target.get("max_price")),
        ),
        ok_exit=_statuses(fields.get("ok_exit", [])),
        replicas=_replicas(fields.get("replicas", 1)),
        image_cid=_image_cid(fields),
        verify=_verify(fields.get("verify", 0.0), fields.get("replicas", 1)),
    )


def _image_cid(fields: dict[str, Any]) -> str:
    cid = _typed(fields, "image_cid", str, "")
    return check_input(cid) if cid else ""


def _replicas(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_REPLICAS:
        raise InputError(f"replicas must be a whole number from 1 to {MAX_REPLICAS}", "e.g. 3")
    return value


def _verify(value: object, replicas: object) -> float:
    """verify: the fraction of files the replicas check (sampled verification)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InputError("verify must be a fraction from 0 to 1", "e.g. 0.1 checks a tenth")
    if value and replicas == 1:
        raise InputError("verify needs replicas of 2 or more", "e.g. replicas 3, verify 0.1")
    return float(value)


def _publish(value: object) -> tuple[str, ...]:
    """target.publish: s3:// targets only through the API (dir:PATH would write on its machine)."""
    from codsh.core.publish import S3Target, parse_targets

    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError("target.publish must be a list of targets", 'e.g. ["s3://bucket/prefix"]')
    for target in parse_targets(value):
        if not isinstance(target, S3Target):
            raise InputError(
                f"{target} would be written on the orchestrator's machine: only s3:// targets "
                "are published through the API",
                "publish to s3://, or run `codsh publish CID --to dir:PATH` where you want the files",
            )
    return tuple(value)


def _statuses(value: object) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value
    ):
        raise InputError("ok_exit must be a list of exit statuses (0-255)", "e.g. [0, 1]")
    return tuple(sorted(set(value)))


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{what} must be a JSON object", "see /openapi.json for its fields")
    return value


def _known(fields: dict[str, Any], known: set[str], what: str) -> None:
    unknown = sorted(set(fields) - known)
    if unknown:
        raise InputError(
            f"unknown field(s) in {what}: {', '.join(unknown)}",
            f"the fields are: {', '.join(sorted(known))}",
        )


def _typed(fields: dict[str, Any], name: str, kind: type[T], default: T) -> T:
    value = fields.get(name, default)
    if not isinstance(value, kind):
        raise InputError(f"{name} must be a {kind.__name__}", "see /openapi.json for its fields")
    return value


def _number(fields: dict[str, Any], name: str, default: float) -> Any:
    value = fields.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InputError(f"{name} must be a non-negative number", "see /openapi.json")
    return value
