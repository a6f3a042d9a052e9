"""Function bundles: one directory (one CID) holding all a node needs to run a Python function.

    codsh.toml         [function] script = "process.py", name = "downscale"
    process.py ...     the script(s) and any modules or data files beside them
    requirements.txt   optional; installed on the node offline, from wheels/ only
    wheels/            the resolved wheels for the node platform

Everything is checked here, on the client, so that a job fails before it is submitted rather
than on every node: the manifest, the script's syntax and its function, the requirements.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from codsh.core.bundle import (
    MANIFEST,
    MANIFEST_HINT,
    REQUIREMENTS,
    WHEELS,
    FunctionManifest,
    check_script_path,
    parse_manifest,
)
from codsh.errors import InputError
from codsh.functions.wheels import download_wheels, read_requirements, wheelhouse_complete
from codsh.images.python import PipTarget

#: Not copied by `pack_directory`: caches, VCS data, virtual environments.
IGNORED: tuple[str, ...] = (".git", ".hg", ".svn", "__pycache__", "*.pyc", ".venv", "venv")
IGNORED += (".mypy_cache", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", ".DS_Store")
IGNORED += ("*.egg-info",)


def render_manifest(manifest: FunctionManifest) -> str:
    return (
        f"[function]\nscript = {_toml_string(manifest.script)}\n"
        f"name = {_toml_string(manifest.name)}\n"
    )


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(_toml_char(c) for c in escaped) + '"'


def _toml_char(char: str) -> str:
    return f"\\u{ord(char):04X}" if ord(char) < 0x20 or ord(char) == 0x7F else char


def check_script(path: Path, name: str, python: tuple[int, int] = (3, 11)) -> None:
    """Compile the script and find a top-level `def name` (or `name = ...`) with a signature codsh
    can call: fn(infile) or fn(infile, outfile). `python` is the node's version, for the parser."""
    source = path.read_bytes()
    try:
        tree = ast.parse(source, str(path), feature_version=python)
        compile(tree, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        line = (exc.text or "").rstrip()
        shown = f"\n    {line.strip()}" if line else ""
        raise InputError(
            f"{path.name}:{exc.lineno}: syntax error: {exc.msg}{shown}",
            f"fix the script; it must compile under Python {python[0]}.{python[1]} on the nodes",
        ) from None
    found = dict(_top_level(tree.body))
    node = found.get(name)
    if node is None:
        functions = sorted(n for n, d in found.items() if isinstance(d, ast.FunctionDef))
        listed = ", ".join(functions) if functions else "none"
        raise InputError(
            f"{path.name} defines no top-level function named {name!r}",
            f"functions defined there: {listed}; name the one to call (--fn NAME)",
        )
    if isinstance(node, ast.AsyncFunctionDef):
        raise InputError(
            f"{path.name}:{node.lineno}: {name} is an async function; codsh calls it once per "
            "file and does not run an event loop",
            f"make it a plain `def {name}(infile)` (call asyncio.run(...) inside it if needed)",
        )
    if isinstance(node, ast.FunctionDef):
        _check_parameters(path, node)


def _top_level(body: list[ast.stmt]) -> list[tuple[str, ast.AST]]:
    """Names bound at module level, looking into if/try/with blocks (not into functions)."""
    found: list[tuple[str, ast.AST]] = []
    for stmt in body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.append((stmt.name, stmt))
        elif isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                found += [(n.id, stmt) for n in ast.walk(target) if isinstance(n, ast.Name)]
        elif isinstance(stmt, ast.Import | ast.ImportFrom):
            found += [((a.asname or a.name).split(".")[0], stmt) for a in stmt.names]
        elif isinstance(stmt, ast.If | ast.With | ast.For | ast.While):
            found += _top_level(stmt.body) + _top_level(getattr(stmt, "orelse", []))
        elif isinstance(stmt, ast.Try):
            found += _top_level(stmt.body) + _top_level(stmt.orelse) + _top_level(stmt.finalbody)
            for handler in stmt.handlers:
                found += _top_level(handler.body)
    return found


def _check_parameters(path: Path, node: ast.FunctionDef) -> None:
    args = node.args
    positional = args.posonlyargs + args.args
    required = len(positional) - len(args.defaults)
    keyword_only = [
        a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None
    ]
    problem = ""
    if keyword_only:
        problem = f"requires keyword-only parameter(s) {', '.join(keyword_only)}"
    elif required > 2:
        problem = f"requires {required} positional parameters"
    elif not positional and args.vararg is None:
        problem = "takes no parameters"
    if problem:
        raise InputError(
            f"{path.name}:{node.lineno}: {node.name} {problem}",
            f"codsh calls {node.name}(infile) (return bytes, str, or an iterator of chunks) "
            f"or {node.name}(infile, outfile) (write to outfile)",
        )


def make_bundle(
    dest: Path, script: Path, name: str, requirements: Path | None, target: PipTarget
) -> Path:
    """The bundle for `-f script --fn name -r requirements`, written to the new folder `dest`."""
    if not script.is_file():
        raise InputError(f"no such script: {script}", "check the path given to -f")
    manifest = FunctionManifest(script=script.name, name=name)
    check_script_path(manifest.script)
    check_script(script, name, _version(target))
    if requirements is not None:
        if not requirements.is_file():
            raise InputError(f"no such requirements file: {requirements}", "check the path (-r)")
        read_requirements(requirements)  # refuse what a node cannot install before any download
    _new_folder(dest)
    shutil.copy(script, dest / script.name)
    (dest / MANIFEST).write_text(render_manifest(manifest))
    if requirements is not None:
        shutil.copy(requirements, dest / REQUIREMENTS)
        download_wheels(dest / REQUIREMENTS, dest / WHEELS, target)
    return dest


def pack_directory(src: Path, dest: Path, target: PipTarget) -> Path:
    """`codsh fn pack DIR`: copy DIR (caches and VCS data left out) to the new folder `dest`,
    check it, and complete wheels/ from requirements.txt unless the wheels there already do."""
    manifest_path = src / MANIFEST
    if not manifest_path.is_file():
        raise InputError(f"{src} has no {MANIFEST}", MANIFEST_HINT)
    if dest.resolve().is_relative_to(src.resolve()):
        raise InputError(f"cannot pack {src} into {dest}, inside it", "write the bundle elsewhere")
    manifest = parse_manifest(manifest_path.read_text())
    script = src.joinpath(*manifest.script.split("/"))
    if not script.is_file():
        raise InputError(f"{MANIFEST} names the script {manifest.script!r}, which {src} lacks")
    check_script(script, manifest.name, _version(target))
    _new_folder(dest)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(*IGNORED), dirs_exist_ok=True)
    requirements = dest / REQUIREMENTS
    has_requirements = requirements.is_file() and bool(read_requirements(requirements))
    if has_requirements and not wheelhouse_complete(requirements, dest / WHEELS, target):
        download_wheels(requirements, dest / WHEELS, target)
    return dest


def _new_folder(dest: Path) -> None:
    if dest.exists() and any(dest.iterdir()):
        raise InputError(f"{dest} exists and is not empty", "choose a new folder for the bundle")
    dest.mkdir(parents=True, exist_ok=True)


def _version(target: PipTarget) -> tuple[int, int]:
    major, minor = target.python.split(".")[:2]
    return int(major), int(minor)
