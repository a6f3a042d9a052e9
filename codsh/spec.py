"""The job spec: what to run, on what, with which limits. Canonical JSON makes it content-addressable."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, field
from typing import Any

from codsh.errors import InputError
from codsh.ipfs.unixfs import parse_cid

PER_FILE = "per-file"
CONCAT = "concat"
DEFAULT_IMAGE = "codsh/busybox:latest"
PYTHON_IMAGE = "codsh/python:latest"
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

    def canonical_json(self) -> str:
        return canonical_json(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        fields = json.loads(text)
        return cls(**{**fields, "limits": Limits(**fields["limits"])})


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
        parse_cid(root)
    except ValueError as exc:
        raise InputError(
            f"{root!r} is not a valid CID ({exc})",
            "CIDs look like bafy... or Qm...; `codsh add PATH` prints one for your files",
        ) from exc
    return f"{root}/{rest}".rstrip("/") if rest else root
