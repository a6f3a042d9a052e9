"""Runs inside the job container: once per shard as a fork server (`--serve`, below), else once
per input file (`python3 /codsh-env/_codsh_runner.py`).

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

`--serve` (what the shard runner starts once per shard, runner/main.go) is a fork server: it
imports the function once, then forks a child per file that PID 1 hands over (see serve()).
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
from typing import IO, Any, TypeVar

EXIT_EXCEPTION = 1
EXIT_UNUSABLE = 2
ENCODING = "utf-8"
SERVE = "--serve"


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
    return run_once(fn, two_args, out)


def run_once(fn: Callable[..., Any], two_args: bool, out: IO[bytes]) -> int:
    """Call the function on stdin; the file's exit status (1 for an exception)."""
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


# The fork server (`--serve`). PID 1 (runner/main.go, root) holds the file's pipes, which nobody else
# may open; it passes them over a SOCK_SEQPACKET socket (fd 3) with SCM_RIGHTS, one message per
# file. The server answers `ready cpu=<µs>` once the function is loaded (or `fallback <why>`: PID 1
# then runs a new interpreter per file, as without the server), and per file `started <pid>`, then
# `done <status> cpu=<µs> rss=<KiB>` (the child's wait4), or `fail <why>` (it exits; PID 1 starts
# another). A child starts from the state the import left, copy-on-write: what a file changes
# (globals, modules, open files, threads, cwd) dies with its process.
#
# What a child imports lazily (Pillow loads its format plugins on the first open) would be paid
# again by every file, ~9 ms each with Pillow. So a child tells the server which modules it
# imported, and the server imports them too once the child is done: the next files start with
# them loaded, as with an import at the top of the script. What those imports print is kept and
# written at the start of every later file's stderr, as the import's own output is; one that
# leaves the server unforkable (a thread, a file open for writing) makes it hand the next file
# back and exit, and PID 1 starts a new one.
#
# A file may kill the server (it is the file's parent). Had the server waited with wait4, a file
# that exits before the dying server runs again would be reaped by it and its status lost (PID 1
# saw ECHILD and reported 137). So the server first waits without reaping (waitid WNOWAIT): a
# SIGKILL pending by then ends it on that call's return, and the zombie passes to PID 1, which
# reads the file's own status.

CONTROL_FD = 3
PR_SET_DUMPABLE = 4


def serve() -> int:
    """Import once, then one forked child per file; returns only in the server (0 on EOF)."""
    import gc
    import socket

    control = socket.socket(fileno=CONTROL_FD)
    try:
        _set_dumpable(False)  # the children (same uid) cannot ptrace it or open its /proc files
        preamble, loaded = _import_captured(Path(__file__).resolve().parent)
    except OSError as exc:  # no prctl, no memfd: this container cannot keep files apart
        control.sendall(f"fallback the server cannot start: {exc}\n".encode())
        return 0
    why = "the import failed" if loaded is None else _unforkable()
    if loaded is None or why:
        control.sendall(f"fallback {why}\n".encode())
        return 0
    offsets = _offsets()
    state = _process_state()
    gc.collect()
    gc.freeze()  # the import's objects: never scanned (nor their pages copied) by a child's GC
    control.sendall(f"ready cpu={_micros(_self_usage())}\n".encode())
    broken = ""  # why a learned import left this server unforkable
    while True:
        message, fds, _, _ = socket.recv_fds(control, 64, 3)
        if not message:
            return 0  # PID 1 is done with the shard
        changed = broken or ("" if len(fds) == 3 else "a message without three files")
        changed = changed or ("" if _process_state() == state else "its limits were changed")
        if changed:  # a file's process lowered its limits, niceness, CPUs: not the next file's
            control.sendall(f"fail {changed}\n".encode())
            return 0
        go, said = os.pipe()  # the child calls only once PID 1 knows it started (see below)
        learned, learn = os.pipe()  # the modules the child imported
        pid = os.fork()
        if pid == 0:
            control.close()
            os.close(said)
            os.close(learned)
            if os.read(go, 1) != b"!":  # the server died first: PID 1 runs this file itself
                os._exit(EXIT_UNUSABLE)
            os.close(go)
            _child(fds, loaded, preamble, offsets, learn)
        os.close(go)
        os.close(learn)
        for fd in fds:
            os.close(fd)
        control.sendall(f"started {pid}\n".encode())
        os.write(said, b"!")
        os.close(said)
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # ended, left unreaped: see above
        _, status, used = os.wait4(pid, 0)
        cpu = _micros(used)
        control.sendall(f"done {_shell_status(status)} cpu={cpu} rss={used.ru_maxrss}\n".encode())
        names = _read_all(learned).decode(errors="replace").split()
        os.close(learned)
        if new := [name for name in names if name not in sys.modules]:
            printed, _ = _captured(lambda: _import_all(new))
            preamble += printed
            broken = _unforkable()
            offsets = _offsets()
            gc.collect()
            gc.freeze()


def _import_all(names: list[str]) -> None:
    """Import what a child imported (one that fails here is left to each file, as before)."""
    import importlib

    for name in names:
        with contextlib.suppress(BaseException):
            importlib.import_module(name)


def _read_all(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    return data


def _tell_imports(learn: int, before: frozenset[str]) -> None:
    """In a child: the modules it imported from files, for the server to import (best effort:
    never blocks, what does not fit the pipe is not learned)."""
    names = [
        name
        for name, module in list(sys.modules.items())
        if name not in before and getattr(getattr(module, "__spec__", None), "origin", None)
    ]
    with contextlib.suppress(OSError):
        os.set_blocking(learn, False)
        os.write(learn, "\n".join(names).encode()[:65536])
    os.close(learn)


def _import_captured(env: Path) -> tuple[bytes, tuple[Callable[..., Any], bool] | None]:
    """Load the function with fds 1 and 2 in memory: what the import prints (Python or C) is
    written again at the start of every file's stderr, as each file's own import would print it.
    None when the import fails: the per-file path then gives each file its exact error."""

    def import_function() -> tuple[Callable[..., Any], bool] | None:
        try:
            return load(env)
        except BaseException:  # noqa: BLE001  any failure: the per-file path reports it exactly
            return None

    return _captured(import_function)


R = TypeVar("R")


def _captured(fn: Callable[[], R]) -> tuple[bytes, R]:
    """Call `fn` with fds 1 and 2 in memory (then on /dev/null); what it printed, its result."""
    capture = os.memfd_create("codsh-import", os.MFD_CLOEXEC)
    os.dup2(capture, 1)
    os.dup2(capture, 2)
    sys.stdout = sys.stderr  # as _take_stdout: one buffer, prints in order
    try:
        result = fn()
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
    size = os.lseek(capture, 0, os.SEEK_END)
    printed = os.pread(capture, size, 0) if size else b""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)
    os.close(capture)
    return printed, result


def _unforkable() -> str:
    """Why the state the import left cannot be forked faithfully ("" when it can): threads do
    not survive fork, and a file open for writing, a pipe or shared memory would be shared by
    every file (PID 1 checks /tmp, /dev/shm, IPC and processes itself)."""
    import fcntl
    import stat

    threads = len(os.listdir("/proc/self/task"))
    if threads > 1:
        return f"the import started {threads - 1} thread(s)"
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= CONTROL_FD:
            continue
        try:
            mode, flags = os.fstat(fd).st_mode, fcntl.fcntl(fd, fcntl.F_GETFL)
        except OSError:
            continue  # the listing's own descriptor, closed already
        kept = stat.S_ISREG(mode) or stat.S_ISDIR(mode)
        if not kept or flags & os.O_ACCMODE != os.O_RDONLY:
            return "the import keeps a pipe, socket or file open for writing"
    with open("/proc/self/maps") as maps:
        for line in maps:
            permissions = line.split()[1]
            if "w" in permissions and "s" in permissions:
                return "the import mapped shared writable memory"
    return ""


def _offsets() -> dict[int, int]:
    """Where each file the import left open is read from: every child starts there again (an
    open file's offset is shared across fork, and files run one after the other)."""
    offsets = {}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        with contextlib.suppress(OSError):
            if fd > CONTROL_FD and os.path.isfile(f"/proc/self/fd/{fd}"):
                offsets[fd] = os.lseek(fd, 0, os.SEEK_CUR)
    return offsets


def _process_state() -> tuple[object, ...]:
    """What another process of the same user may change of the server and its later children."""
    import resource

    names = sorted(n for n in dir(resource) if n.startswith("RLIMIT_"))
    limits = tuple(resource.getrlimit(getattr(resource, n)) for n in names)
    nice = os.getpriority(os.PRIO_PROCESS, 0)
    return limits, nice, frozenset(os.sched_getaffinity(0)), os.sched_getscheduler(0)


def _child(
    fds: list[int],
    loaded: tuple[Callable[..., Any], bool],
    preamble: bytes,
    offsets: dict[int, int],
    learn: int,
) -> None:
    """One file, in a forked child: its streams as fds 0-2, fresh sys.std*, the import's output
    first on stderr, the call, then Python's own exit steps. Never returns."""
    code = EXIT_EXCEPTION
    before = frozenset(sys.modules)
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            os.close(fd)
        for fd, offset in offsets.items():
            with contextlib.suppress(OSError):
                os.lseek(fd, offset, os.SEEK_SET)
        _set_dumpable(True)
        sys.argv[1:] = []
        _fresh_stdio()
        view = memoryview(preamble)
        while view:
            view = view[os.write(2, view) :]
        out = _take_stdout()
        try:
            code = run_once(*loaded, out)
        except SystemExit as exc:  # sys.exit() in the function: what the interpreter would do
            code = _exit_code(exc)
        except BaseException as exc:  # noqa: BLE001  e.g. KeyboardInterrupt: as Python exits
            _print_user_traceback(exc)
    finally:
        _tell_imports(learn, before)
        _exit(code)


def _fresh_stdio() -> None:
    """sys.stdin/stdout/stderr on the file's fds, built as Python's startup builds them (the
    server's objects cached facts about its own fds, e.g. that stdin was seekable)."""
    import io

    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        old = getattr(sys, f"__{name}__", None) or getattr(sys, name)
        raw = io.FileIO(fd, "rb" if fd == 0 else "wb", closefd=False)
        raw.name = f"<{name}>"
        buffered: io.BufferedIOBase
        buffered = io.BufferedReader(raw) if fd == 0 else io.BufferedWriter(raw)
        encoding = getattr(old, "encoding", None) or ENCODING
        errors = getattr(old, "errors", None) or "strict"
        stream = io.TextIOWrapper(buffered, encoding, errors, line_buffering=fd == 2)
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=sys.stderr)
    return EXIT_EXCEPTION


def _exit(code: int) -> None:
    """What the interpreter does at exit that a file can see (non-daemon threads joined, atexit
    handlers, streams and C stdio flushed), without tearing every module down (~100 ms)."""
    try:
        if "threading" in sys.modules:
            sys.modules["threading"]._shutdown()
        import atexit

        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        _libc().fflush(None)
    finally:
        os._exit(code)


def _libc() -> Any:
    import ctypes

    global _LIBC
    _LIBC = _LIBC or ctypes.CDLL(None, use_errno=True)
    return _LIBC


_LIBC: Any = None


def _set_dumpable(on: bool) -> None:
    if _libc().prctl(PR_SET_DUMPABLE, int(on), 0, 0, 0) != 0:
        import ctypes

        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE)")


def _self_usage() -> Any:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF)


def _micros(used: Any) -> int:
    return int((used.ru_utime + used.ru_stime) * 1_000_000)


def _shell_status(status: int) -> int:
    """The child's status as a shell reports it (128+N for signal N), as PID 1 reports files."""
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(serve() if sys.argv[1:] == [SERVE] else main())
