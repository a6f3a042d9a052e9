"""Where codsh keeps things and finds its tools; every path can be overridden from the environment."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from codsh.errors import ServiceUnavailable

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """`CODSH_HOME`, else `$XDG_DATA_HOME/codsh`, else ~/.local/share/codsh."""
    explicit = os.environ.get("CODSH_HOME")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "codsh"


def jobs_db() -> Path:
    return data_dir() / "jobs.sqlite"


def devstack_dir() -> Path:
    return data_dir() / "devstack"


def kubo_binary() -> str:
    """`CODSH_KUBO`, else the one `make setup` built into .tools/bin, else `ipfs` on PATH."""
    explicit = os.environ.get("CODSH_KUBO")
    if explicit:
        return explicit
    built = REPO_ROOT / ".tools" / "bin" / "ipfs"
    if built.exists():
        return str(built)
    found = shutil.which("ipfs")
    if found:
        return found
    raise ServiceUnavailable(
        "no kubo binary found (looked at $CODSH_KUBO, .tools/bin/ipfs and PATH)",
        "run `make setup` in the codsh checkout, or set CODSH_KUBO to an ipfs v0.42 binary",
    )


def scratch_root() -> Path | None:
    """Where shards make their FIFOs: `CODSH_SCRATCH`, else /dev/shm (FIFO creation on a disk
    filesystem costs ~1 ms each, on tmpfs microseconds), else the system temp dir."""
    explicit = os.environ.get("CODSH_SCRATCH")
    if explicit:
        return Path(explicit)
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


def runner_binary() -> Path:
    """The static program that is PID 1 of every shard container (source: runner/main.go):
    `CODSH_RUNNER`, else the one `make setup` built into .tools/bin."""
    explicit = os.environ.get("CODSH_RUNNER")
    path = Path(explicit) if explicit else REPO_ROOT / ".tools" / "bin" / "codsh-runner"
    if not path.is_file():
        raise ServiceUnavailable(
            f"the shard runner {path} is missing",
            "run `make setup` in the codsh checkout (it builds runner/ with Go), or set "
            "CODSH_RUNNER to a codsh-runner binary",
        )
    return path
