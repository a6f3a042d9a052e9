"""The function bundle's format, shared by the client that packs it (functions/) and the node that
installs it (executor/environment.py): file names, codsh.toml, what requirements.txt may hold.
Pure: text in, checked values or an InputError that says what to write instead out."""

from __future__ import annotations

import keyword
import re
import tomllib
from dataclasses import dataclass
from pathlib import PurePosixPath

from codsh.errors import InputError

MANIFEST = "codsh.toml"
REQUIREMENTS = "requirements.txt"
WHEELS = "wheels"
MANIFEST_HINT = f'{MANIFEST} must hold:\n[function]\nscript = "process.py"\nname = "downscale"'
#: Options that only steer where `pip download` looks, or select among wheels: harmless offline.
ALLOWED_OPTIONS = (
    "-i",
    "--index-url",
    "--extra-index-url",
    "--trusted-host",
    "--pre",
    "--prefer-binary",
    "--only-binary",
    "--no-index",
)
_NESTED = ("-r", "--requirement", "-c", "--constraint")
_VCS = ("git+", "hg+", "svn+", "bzr+")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class FunctionManifest:
    """What codsh.toml names: the script (a relative path inside the bundle) and its function."""

    script: str
    name: str


def parse_manifest(text: str) -> FunctionManifest:
    """Read codsh.toml; every mistake is an InputError that says what to write instead."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{MANIFEST} is not valid TOML: {exc}", MANIFEST_HINT) from None
    table = data.get("function")
    if not isinstance(table, dict):
        raise InputError(f"{MANIFEST} has no [function] table", MANIFEST_HINT)
    unknown = sorted(set(table) - {"script", "name"})
    if unknown:
        raise InputError(
            f"{MANIFEST}: unknown key(s) in [function]: {', '.join(unknown)}", MANIFEST_HINT
        )
    for key in ("script", "name"):
        if not isinstance(table.get(key), str) or not table[key]:
            raise InputError(f"{MANIFEST}: [function] needs a string {key!r}", MANIFEST_HINT)
    manifest = FunctionManifest(script=table["script"], name=table["name"])
    check_script_path(manifest.script)
    if not manifest.name.isidentifier() or keyword.iskeyword(manifest.name):
        raise InputError(
            f"{MANIFEST}: name {manifest.name!r} is not a Python identifier",
            "name the function as it is written after `def` in the script",
        )
    return manifest


def check_script_path(script: str) -> None:
    """A script path must stay inside the bundle: relative, no '..', no backslashes, ends in .py."""
    path = PurePosixPath(script)
    if path.is_absolute() or "\\" in script or any(p in ("..", ".", "") for p in script.split("/")):
        raise InputError(
            f"{MANIFEST}: script {script!r} must be a relative path inside the bundle",
            'write it relative to the bundle folder, e.g. script = "process.py"',
        )
    if path.suffix != ".py":
        raise InputError(f"{MANIFEST}: script {script!r} is not a .py file", MANIFEST_HINT)


def parse_requirements(text: str, filename: str = REQUIREMENTS) -> list[str]:
    """The requirement lines of a requirements.txt (options, comments and blanks left out);
    refuses what a node could not install offline, before pip runs, with the line number."""
    lines = text.replace("\\\n", "").splitlines()
    requirements = []
    for number, raw in enumerate(lines, 1):
        line = re.sub(r"(^|\s)#.*", "", raw).strip()
        if not line:
            continue
        where = f"{filename}:{number}: {line!r}"
        if line.startswith("-"):
            option = re.split(r"[\s=]", line, maxsplit=1)[0]
            if option in ("-e", "--editable"):
                raise InputError(
                    f"{where}: editable installs cannot go into a bundle",
                    "build a wheel of the project (`pip wheel .`) and require it by name, "
                    "or copy its modules next to the script (`codsh fn pack DIR`)",
                )
            if option in _NESTED:
                raise InputError(
                    f"{where}: nested requirement or constraint files are not followed",
                    "write their lines into requirements.txt itself",
                )
            if option not in ALLOWED_OPTIONS:
                raise InputError(
                    f"{where}: the option {option} is not supported in a codsh bundle",
                    f"nodes install offline from wheels; allowed options: {', '.join(ALLOWED_OPTIONS)}",
                )
            continue
        _check_reference(line, where)
        requirements.append(line)
    return requirements


def _check_reference(line: str, where: str) -> None:
    spec = line.split(";", 1)[0]
    if spec.startswith(_VCS) or "://" in spec or spec.startswith("file:") or " @ " in spec:
        raise InputError(
            f"{where}: direct URL and VCS references cannot be installed on a node (it has no network)",
            "require a released version from the package index by name (e.g. name==1.2)",
        )
    if spec.startswith((".", "/", "~")) or "/" in spec or "\\" in spec or spec.endswith(".whl"):
        raise InputError(
            f"{where}: local paths cannot be installed on a node",
            "require the package by name; for your own wheel, put it in the bundle's wheels/ "
            "folder and pack the folder with `codsh fn pack DIR`",
        )
    if not NAME_PATTERN.match(spec):
        raise InputError(f"{where}: not a requirement pip understands", "write name[==version]")
