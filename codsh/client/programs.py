"""What `Client.submit` runs per file, as the CLI's -e, -f/--fn/-r and -x give it: a shell command
(a str), a Python function (packed from its source file into a bundle CID, as `-f FILE --fn NAME`
packs it: the same bundle, the same CID, the same memo), or a program CID (`bundle:CID`,
`wasm:CID`, or a bare CID, inspected like -x)."""

from __future__ import annotations

import ast
import inspect
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codsh.client.backend import Backend
from codsh.core.spec import DEFAULT_IMAGE, PYTHON, PYTHON_IMAGE, SHELL, WASM, Program, check_command
from codsh.core.spec import check_input as check_cid
from codsh.core.unixfs import is_cid
from codsh.errors import CodshError, InputError

PREFIXES = ("bundle:", "wasm:")
WASM_MAGIC = b"\0asm"


def choose(
    what: str | Callable[..., Any], image: str | None, requirements: Path | None, backend: Backend
) -> Program:
    """The Program for submit's first argument, checked (and packed, for a function)."""
    if requirements is not None and not callable(what):
        raise InputError("requirements go with a Python function", "submit a function object")
    if callable(what):
        return pack_function(what, image or PYTHON_IMAGE, requirements, backend)
    if not isinstance(what, str):
        raise InputError(
            f"cannot run a {type(what).__name__}",
            "give a shell command (str), a Python function, or 'wasm:CID' / 'bundle:CID'",
        )
    python_image = image or PYTHON_IMAGE
    if what.startswith(PREFIXES):
        kind, _, cid = what.partition(":")
        return inspect_program(check_cid(cid), python_image, backend, kind)
    if is_cid(what.strip()):
        return inspect_program(what.strip(), python_image, backend, None)
    check_command(what)
    return Program(SHELL, what, image=image or DEFAULT_IMAGE)


def pack_function(
    fn: Callable[..., Any], image: str, requirements: Path | None, backend: Backend
) -> Program:
    """Bundle `fn`'s source file with the wheels of `requirements`, add it; the Program."""
    from codsh.functions.bundle import make_bundle

    script = source_file(fn)
    check_imports(script, requirements is not None)
    target = backend.pip_target(image, requirements is not None)
    with tempfile.TemporaryDirectory(prefix="codsh-bundle-") as tmp:
        folder = make_bundle(Path(tmp) / "bundle", script, fn.__name__, requirements, target)
        cid = backend.add(folder)
    return Program(PYTHON, f"python {script.name}:{fn.__name__}", cid, image)


def source_file(fn: Callable[..., Any]) -> Path:
    """The .py file that defines `fn` at its top level (nodes import that file and call it)."""
    if not inspect.isfunction(fn):
        raise InputError(
            f"{fn!r} is not a Python function",
            "submit a function defined with `def` at the top level of a .py file",
        )
    if fn.__name__ == "<lambda>" or fn.__qualname__ != fn.__name__:
        raise InputError(
            f"{fn.__qualname__} is not defined at the top level of its module",
            "nodes import the module and call the function by name: define it with `def` "
            "at the top level of a .py file",
        )
    try:
        path = inspect.getsourcefile(fn)
    except TypeError:
        path = None
    if path is None or not path.endswith(".py") or not Path(path).is_file():
        raise InputError(
            f"{fn.__name__} has no source file (defined in a notebook or an interactive shell?)",
            "define it in a .py file and import it from there",
        )
    return Path(path)


def check_imports(script: Path, has_requirements: bool) -> None:
    """Refuse top-level imports the nodes cannot satisfy: the bundle holds this one file, and the
    nodes have the standard library plus the requirements' packages (and never codsh)."""
    try:
        tree = ast.parse(script.read_bytes(), str(script))
    except SyntaxError:
        return  # make_bundle says where
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            names = [alias.name for alias in stmt.names]
        elif isinstance(stmt, ast.ImportFrom):
            if stmt.level:
                raise InputError(
                    f"{script.name}:{stmt.lineno}: a relative import: the bundle holds "
                    f"{script.name} alone",
                    "import what the function needs inside it, or move it into a package "
                    "given in requirements",
                )
            names = [stmt.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top == "codsh" or (not has_requirements and top not in sys.stdlib_module_names):
                raise InputError(
                    f"{script.name}:{stmt.lineno} imports {top}, which the nodes do not have: "
                    f"they get {script.name} alone, the standard library"
                    + (" and the requirements' packages" if has_requirements else ""),
                    _import_hint(top),
                )


def _import_hint(top: str) -> str:
    if top == "codsh":
        return (
            "keep the function in a module of its own, imported by the script that submits "
            'it, or import codsh under `if __name__ == "__main__":`'
        )
    return (
        f"give requirements (a requirements.txt naming the package of {top}), or keep the "
        "function in a module that does not import it"
    )


def inspect_program(cid: str, python_image: str, backend: Backend, kind: str | None) -> Program:
    """A bundle (a folder with codsh.toml) or a WASI module (a file), as -x CID reads it."""
    from codsh.core.bundle import MANIFEST, parse_manifest

    if kind in (None, "bundle"):
        try:
            text = backend.read(f"{cid}/{MANIFEST}", 64 * 1024)
        except CodshError:
            if kind == "bundle":
                raise InputError(
                    f"{cid} is not a function bundle: it has no {MANIFEST}",
                    "make one with `codsh fn pack DIR` (DIR holds codsh.toml and the script)",
                ) from None
        else:
            manifest = parse_manifest(text.decode("utf-8", errors="replace"))
            return Program(PYTHON, f"python {manifest.script}:{manifest.name}", cid, python_image)
    from codsh.executor.runners import MAX_MODULE
    from codsh.executor.wasm import compile_module, shared_engine

    try:
        module = backend.read(cid, MAX_MODULE)
    except CodshError as exc:
        raise _not_a_program(cid, kind, exc.message) from None
    if not module.startswith(WASM_MAGIC):
        raise _not_a_program(cid, kind)
    compile_module(module, shared_engine())  # a bad module is refused before any file runs
    return Program(WASM, f"wasm {cid}", cid)


def _not_a_program(cid: str, kind: str | None, why: str = "") -> InputError:
    what = (
        "is not a .wasm module"
        if kind == "wasm"
        else "is neither a function bundle nor a .wasm module"
    )
    return InputError(
        f"{cid} {what}" + (f" ({why})" if why else ""),
        "make a bundle with `codsh fn pack DIR`, or give a WASI preview 1 module",
    )
