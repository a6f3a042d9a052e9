"""Resolving requirements.txt into wheels for the node's interpreter, on the client.

Nodes have no network: they install from the bundle's wheels only, with the same requirements.txt.
So it must name nothing but index packages (no editable installs, VCS or URL references, local
paths, nested files) and every package must have a wheel for the node's Python: pip is run with the
image's tags (`PipTarget.download_args`), and a failure names the requirement and the tags.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from codsh.core.bundle import NAME_PATTERN, parse_requirements
from codsh.errors import InputError, ServiceUnavailable
from codsh.images.python import PipTarget

DOWNLOAD_TIMEOUT = 600.0
_NOT_FOUND = (
    re.compile(r"No matching distribution found for (\S+)"),
    re.compile(r"Could not find a version that satisfies the requirement (\S+)"),
)
_NETWORK = re.compile(
    r"Network is unreachable|Failed to establish a new connection|Temporary failure in name "
    r"resolution|Name or service not known|ConnectTimeout|ReadTimeout|Max retries exceeded"
)


def read_requirements(path: Path) -> list[str]:
    """The requirement lines of `path` (see core/bundle.py:parse_requirements)."""
    return parse_requirements(path.read_text(), path.name)


def describe_target(target: PipTarget) -> str:
    """The node platform in a few words, for error messages."""
    platforms = target.platforms
    shown = platforms[0] if platforms else "no platform tag"
    if len(platforms) > 1:
        shown += f" (or older: {len(platforms)} platform tags down to {platforms[-1]})"
    return f"CPython {target.python} (ABI {target.abi}) on {shown}"


def download_wheels(
    requirements: Path, dest: Path, target: PipTarget, timeout: float = DOWNLOAD_TIMEOUT
) -> list[Path]:
    """Fetch wheels for every requirement (and their dependencies) into `dest`; the wheels there.

    Files already in `dest` are reused by pip. Nothing is built: only wheels are accepted.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if read_requirements(requirements):
        _pip(
            ["download", "--dest", str(dest), *target.download_args(), "-r", str(requirements)],
            target,
            timeout,
        )
    return sorted(dest.glob("*.whl"))


def wheelhouse_complete(requirements: Path, wheels: Path, target: PipTarget) -> bool:
    """Whether `wheels` alone satisfies `requirements` for `target` (checked offline by pip)."""
    if not read_requirements(requirements):
        return True
    if not wheels.is_dir():
        return False
    with tempfile.TemporaryDirectory(prefix="codsh-wheels-") as scratch:
        args = ["download", "--no-index", "--find-links", str(wheels), "--dest", scratch]
        done = subprocess.run(
            [sys.executable, "-m", "pip", *args, *target.download_args(), "-r", str(requirements)],
            capture_output=True,
            text=True,
            timeout=DOWNLOAD_TIMEOUT,
        )
    return done.returncode == 0


def _pip(args: list[str], target: PipTarget, timeout: float) -> None:
    command = [sys.executable, "-m", "pip", *args, "--progress-bar", "off"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ServiceUnavailable(
            f"pip download took longer than {timeout:.0f} s",
            "check the network and the package index (PIP_INDEX_URL), then retry",
        ) from None
    if done.returncode != 0:
        raise _explain(done.stdout + done.stderr, target)


def _explain(output: str, target: PipTarget) -> Exception:
    """The error for a failed `pip download`: which requirement, and why it may have failed."""
    for pattern in _NOT_FOUND:
        found = pattern.findall(output)
        if found:
            return _not_found(found[-1], target)
    tail = _tail(output)
    if _NETWORK.search(output):
        return ServiceUnavailable(
            f"pip could not reach the package index:\n{tail}",
            "check the network, proxy settings and PIP_INDEX_URL, then retry",
        )
    if "ResolutionImpossible" in output or "conflict" in output.lower():
        return InputError(
            f"the requirements conflict with each other:\n{tail}",
            "loosen or align the version pins that pip names above",
        )
    return InputError(f"pip download failed:\n{tail}", "fix requirements.txt as pip says above")


def _not_found(requirement: str, target: PipTarget) -> InputError:
    platform = describe_target(target)
    hint = (
        "check the name and version; pick a version that publishes manylinux wheels for "
        f"CPython {target.python} (see its 'Download files' page on PyPI): source-only "
        "(sdist) packages, even pure-Python ones, are not built on the nodes"
    )
    name_match = NAME_PATTERN.match(requirement)
    versions = _index_versions(name_match.group(0)) if name_match else None
    if versions is None:
        reason = f"it may not exist, or has no wheel for the node platform, {platform}"
    elif not versions:
        reason = "no such package on the package index"
    else:
        shown = ", ".join(versions[:8]) + (", ..." if len(versions) > 8 else "")
        reason = (
            f"the package exists (versions {shown}), but none matching the requirement has a "
            f"wheel for the node platform, {platform}"
        )
    return InputError(f"pip found no wheel for the requirement {requirement!r}: {reason}", hint)


def _index_versions(name: str) -> list[str] | None:
    """The versions the index lists for `name` ([] when it does not know it; None when unsure)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "index", "versions", name],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return [] if "No matching distribution found" in done.stderr + done.stdout else None
    for line in done.stdout.splitlines():
        if line.startswith("Available versions:"):
            return [v.strip() for v in line.split(":", 1)[1].split(",") if v.strip()]
    return None


def _tail(output: str, lines: int = 15) -> str:
    kept = [line for line in output.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])
