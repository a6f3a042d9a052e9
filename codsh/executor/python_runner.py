"""Runs inside the job container, once per input file: `python3 /codsh-env/_codsh_runner.py`.

Copied into every environment as `_codsh_runner.py` (a name no user module takes), beside `fn/`
(the bundle's scripts and codsh.toml) and `site/` (its installed wheels). Standard library only:
it runs under the image's python3, which has nothing else.

The input file is on stdin; what the function gives back is the file's output on stdout:
- `fn(infile)`, `infile` a binary file handle, returns bytes (written as is), str (UTF-8), None
  (no output), or an iterable of bytes/str chunks, written as they come (lines are not given
  newlines: yield them as read, like `writelines`), so huge text files stream line by line;
- `fn(infile, outfile)` (two required positional parameters) writes to the binary `outfile`.
Anything the code prints (print(), C libraries, subprocesses) goes to stderr, never into the output.
An exception prints its traceback on stderr and exits 1; a function that cannot be loaded as named
exits 2. The script is imported as a module (its `if __name__ == "__main__":` block does not run);
`__file__` points into fn/, so files shipped beside the script are found from it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import os
import site
import sys
import tomllib
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import IO, Any

EXIT_EXCEPTION = 1
EXIT_UNUSABLE = 2
ENCODING = "utf-8"


class Unusable(Exception):
    """The bundle does not name a function codsh can call; not the user's runtime error."""


def main() -> int:
    env = Path(__file__).resolve().parent
    out = _take_stdout()
    try:
        fn, two_args = load(env)
    except Unusable as exc:
        print(f"codsh: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except Exception as exc:  # the script failed while it was imported: the user's traceback
        _print_user_traceback(exc)
        return EXIT_EXCEPTION
    try:
        call(fn, two_args, sys.stdin.buffer, out)
    except Exception as exc:
        _print_user_traceback(exc)
        return EXIT_EXCEPTION
    finally:
        with contextlib.suppress(OSError):
            out.flush()
    return 0


def _take_stdout() -> IO[bytes]:
    """The output file, on a private copy of fd 1; fd 1 itself (and so print()) becomes stderr."""
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr  # same stream, one buffer: prints and tracebacks stay in order
    return out


def load(env: Path) -> tuple[Callable[..., Any], bool]:
    """The function codsh.toml names, and whether it takes (infile, outfile)."""
    fn_dir, site_dir = env / "fn", env / "site"
    try:
        table = tomllib.loads((fn_dir / "codsh.toml").read_text())["function"]
        script, name = str(table["script"]), str(table["name"])
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError) as exc:
        raise Unusable(f"the environment has no usable fn/codsh.toml ({exc!r})") from None
    path = fn_dir.joinpath(*script.split("/"))
    here = str(env)
    sys.path[:] = [p for p in sys.path if p != here]  # the runner's folder is no import root
    sys.path[:0] = [str(path.parent), str(fn_dir), str(site_dir)]
    if site_dir.is_dir():
        site.addsitedir(str(site_dir))  # already on sys.path: only runs its .pth files
    module = _import(path)
    fn = getattr(module, name, None)
    if fn is None or not callable(fn):
        defined = sorted(
            n
            for n, v in vars(module).items()
            if inspect.isfunction(v) and v.__module__ == module.__name__
        )
        raise Unusable(
            f"{script} has no function {name!r} (functions defined there: "
            f"{', '.join(defined) or 'none'})"
        )
    return fn, _takes_outfile(fn, name)


def _import(path: Path) -> ModuleType:
    name = path.stem if path.stem.isidentifier() and path.stem not in sys.modules else "codsh_fn"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise Unusable(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as a normal import would: the script may import itself
    spec.loader.exec_module(module)
    return module


def _takes_outfile(fn: Callable[..., Any], name: str) -> bool:
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # no signature (some builtins): the one-argument form
        return False
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = [p for p in parameters if p.kind in kinds]
    required = [p for p in positional if p.default is inspect.Parameter.empty]
    variadic = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    keyword_only = [
        p.name
        for p in parameters
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty
    ]
    if keyword_only or len(required) > 2 or not (positional or variadic):
        raise Unusable(
            f"{name}{inspect.signature(fn)} cannot be called as {name}(infile) "
            f"or {name}(infile, outfile)"
        )
    return len(required) == 2


def call(fn: Callable[..., Any], two_args: bool, infile: IO[bytes], out: IO[bytes]) -> None:
    """Call the function once and write what it gives back (see the module docstring)."""
    result = fn(infile, out) if two_args else fn(infile)
    if inspect.iscoroutine(result) or inspect.isasyncgen(result):
        if inspect.iscoroutine(result):
            result.close()
        raise TypeError("the function is async; codsh calls plain functions (use asyncio.run)")
    if result is None:
        return
    if isinstance(result, bytes | bytearray | memoryview | str):
        out.write(_encode(result, "the result"))
        return
    if isinstance(result, Iterable) and not isinstance(result, dict):
        write(result, out)
        return
    if two_args:  # e.g. the count outfile.write returned: the function wrote its output itself
        return
    raise TypeError(
        f"the function returned {type(result).__name__}; return bytes, str, None, "
        "or an iterable of bytes/str chunks"
    )


def write(chunks: Iterable[Any], out: IO[bytes]) -> None:
    for number, chunk in enumerate(chunks):
        out.write(_encode(chunk, f"chunk {number}"))


def _encode(value: Any, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode(ENCODING)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"{what} is {type(value).__name__}; chunks must be bytes or str")


def _print_user_traceback(exc: BaseException) -> None:
    """The traceback from the user's code on: the runner's own frames left out."""
    tb = exc.__traceback__
    runner = os.path.realpath(__file__)
    while tb is not None and _is_machinery(tb.tb_frame.f_code.co_filename, runner):
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb, file=sys.stderr)
    sys.stderr.flush()


def _is_machinery(filename: str, runner: str) -> bool:
    return filename.startswith("<frozen importlib") or os.path.realpath(filename) == runner


if __name__ == "__main__":
    sys.exit(main())
