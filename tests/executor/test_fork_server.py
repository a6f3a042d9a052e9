"""Python functions through the fork server (issue 15): the module is imported once per shard and
every file runs in a child forked from that state, so what one file changes is gone for the next.

Real kubo, real Docker, the codsh/python image and the hardened container of every shard.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import docker
import pytest

from codsh.core.model import FileResult, InputFile, Outcome, Shard
from codsh.core.spec import PYTHON, JobSpec, Limits
from codsh.executor.runners import shard_runner
from codsh.functions.bundle import make_bundle
from codsh.images.python import PipTarget
from codsh.ipfs.client import KuboClient
from codsh.ipfs.multipart import AddEntry
from codsh.kubo_daemon import KuboProcess
from tests.conftest import run
from tests.executor.test_shard import _bytes, cat
from tests.pyfunctions import add_bundle

SCRIPT = '''
import os, stat, sys, threading, time

print("importing")  # at import: every file's stderr starts with it, as with its own import
IMPORTED = (os.getpid(), time.monotonic())
SEEN = []
TABLE = open(__file__, "rb")  # read by the functions: each file starts at the same offset


def remember(infile):
    """A global a file changes; the next file must not see it."""
    SEEN.append(infile.read())
    return f"{IMPORTED[0]} {IMPORTED[1]} {len(SEEN)} {os.getpid()}\\n"


def litter(infile):
    data = infile.read()
    if data == b"evil":
        os.environ["LEFT"] = "by evil"
        sys.modules["json"] = None
        threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
        open("/tmp/left", "w").write("x")
        TABLE.read()
        globals()["IMPORTED"] = "changed"
        for fd in range(3, 64):  # the server's socket to PID 1 (to forge a status): not open
            try:
                if stat.S_ISSOCK(os.fstat(fd).st_mode):
                    return f"fd {fd} is a socket\\n"
            except OSError:
                pass
        try:
            open(f"/proc/{os.getppid()}/fd/3", "wb")  # the server's socket, through /proc
            return "reached the server's socket\\n"
        except OSError:
            pass
    seen = [os.environ.get("LEFT"), "json" in sys.modules and sys.modules["json"] is None]
    seen += [threading.active_count(), os.listdir("/tmp"), len(TABLE.read(5)), IMPORTED[0]]
    return repr(seen) + "\\n"


def who(infile):
    status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines())
    return f"{os.getuid()} {os.getgid()} {os.getgroups()} {status['CapEff']}\\n"


def lazy(infile):
    """Imports a module on its first call (as Pillow loads its plugins), one that prints."""
    had = "fractions" in sys.modules, "this" in sys.modules
    import fractions, this
    return f"{had}\\n"


def crash(infile):
    data = infile.read()
    if data == b"segv":
        os.kill(os.getpid(), 11)
    if data == b"exit":
        os._exit(3)
    if data == b"sysexit":
        sys.exit(4)
    if data == b"server":
        os.kill(os.getppid(), 9)  # the fork server itself: this file still gets its status
    if data == b"stop":
        os.kill(os.getppid(), 19)
    if data == b"forever":
        while True:
            pass
    if data == b"raise":
        raise ValueError("no")
    return f"{IMPORTED} ok\\n"


def outrun(infile, outfile):
    """Kills the fork server and exits before it runs again: the server, at the lowest priority on
    this file's CPU, wakes to its death only once this file is a zombie it could reap."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    os.sched_setaffinity(os.getppid(), os.sched_getaffinity(0))
    os.setpriority(os.PRIO_PROCESS, os.getppid(), 19)
    outfile.write(infile.read() + b" done\\n")
    outfile.flush()
    os.kill(os.getppid(), 9)
    os._exit(0)
'''


def run_function_shard(
    kubo: KuboProcess,
    engine: docker.DockerClient,
    python_image: str,
    target: PipTarget,
    tmp_path: Path,
    name: str,
    contents: list[bytes],
    script: str = SCRIPT,
    **limits: float,
) -> list[FileResult]:
    """`contents` as files f0..fN, one shard through function `name` of `script`."""
    folder = tmp_path / f"src-{name}-{time.monotonic_ns()}"
    folder.mkdir()
    (folder / "process.py").write_text(textwrap.dedent(script))
    bundle = add_bundle(kubo, make_bundle(folder / "b", folder / "process.py", name, None, target))

    async def go() -> list[FileResult]:
        async with KuboClient(kubo.api_url) as ipfs:
            added = await ipfs.add([AddEntry(f"f{i}", _bytes(c)) for i, c in enumerate(contents)])
            files = tuple(
                InputFile(a.name, a.cid, len(c)) for a, c in zip(added, contents, strict=True)
            )
            spec = JobSpec(
                f"python: {name}",
                "unused",
                image_digest=python_image,
                kind=PYTHON,
                program=bundle,
                limits=Limits(**limits),  # type: ignore[arg-type]
            )
            runner, _ = await shard_runner(spec, ipfs, engine, tmp_path)
            results = await runner.run(Shard(0, files))
            return sorted(results, key=lambda r: int(r.path[1:]))

    return run(go, deadline=300)


def outputs(kubo: KuboProcess, results: list[FileResult]) -> list[str]:
    return [cat(kubo, r.output_cid).decode() for r in results]


def test_a_global_one_file_sets_is_not_seen_by_the_next_and_the_import_ran_once(
    kubo: KuboProcess,
    engine: docker.DockerClient,
    python_image: str,
    target: PipTarget,
    tmp_path: Path,
) -> None:
    contents = [f"file {i}".encode() for i in range(6)]
    results = run_function_shard(kubo, engine, python_image, target, tmp_path, "remember", contents)
    assert all(r.ok for r in results), [r.error for r in results]
    lines = [line.split() for line in outputs(kubo, results)]
    assert {(pid, at) for pid, at, _, _ in lines} == {(lines[0][0], lines[0][1])}  # one import
    assert [seen for _, _, seen, _ in lines] == ["1"] * 6  # SEEN was empty for every file
    assert len({pid for _, _, _, pid in lines}) == 6  # a process of its own per file
    assert all(r.stderr == "importing\n" for r in results)  # the import's print, per file


def test_what_a_file_imports_lazily_is_imported_once_and_its_output_kept_for_every_file(
    kubo: KuboProcess,
    engine: docker.DockerClient,
    python_image: str,
    target: PipTarget,
    tmp_path: Path,
) -> None:
    results = run_function_shard(kubo, engine, python_image, target, tmp_path, "lazy", [b"a"] * 4)
    assert all(r.ok for r in results), [r.error for r in results]
    assert outputs(kubo, results) == ["(False, False)\n"] + ["(True, True)\n"] * 3
    zen = "Beautiful is better than ugly."  # what `import this` prints
    assert all(r.stderr.startswith("importing\n") and zen in r.stderr for r in results)


def test_what_a_file_changes_is_gone_for_the_next(
    kubo: KuboProcess,
    engine: docker.DockerClient,
    python_image: str,
    target: PipTarget,
    tmp_path: Path,
) -> None:
    """Environment, modules, threads, /tmp, an open file's offset, globals; and the server's
    socket is out of a file's reach."""
    contents = [b"good", b"evil", b"good"]
    results = run_function_shard(kubo, engine, python_image, target, tmp_path, "litter", contents)
    assert all(r.ok for r in results), [r.error for r in results]
    first, evil, after = outputs(kubo, results)
    assert evil.startswith("['by evil', True, 2, ['left'], 0, 'c']"), evil
    assert first == after and first.startswith("[None, False, 1, [], 5, "), (first, after)


def test_a_crash_a_killed_server_or_a_timeout_costs_one_file(
    kubo: KuboProcess,
    engine: docker.DockerClient,
    python_image: str,
    target: PipTarget,
    tmp_path: Path,
) -> None:
    names = ["ok", "segv", "exit", "sysexit", "raise", "ok", "server", "ok", "stop", "ok"]
    names += ["forever", "ok"]
    contents = [name.encode() for name in names]
    results = run_function_shard(
        kubo, engine, python_image, target, tmp_path, "crash", contents, timeout=5
    )
    by_name = list(zip(names, results, strict=True))
    codes = [r.exit_code for _, r in by_name]
    assert codes == [0, 139, 3, 4, 1, 0, 0, 0, 0, 0, None, 0], [r.error for r in results]
    assert results[10].outcome is Outcome.TIMED_OUT
    raised = results[4].stderr  # the import's print, then the user's frames only
    assert raised.startswith("importing\nTraceback (most recent call last):\n"), raised
    assert 'File "/codsh-env/fn/process.py"' in raised and "_codsh_runner" not in raised
    assert raised.rstrip().endswith("ValueError: no")
    imports = [cat(kubo, r.output_cid).decode().rsplit(" ", 1)[0] for r in results if r.ok]
    # ok, ok, server (its own call ends well) | ok, stop, ok | ok after the timeout
    assert imports[0] == imports[1] == imports[2]  # one server until one file killed it
    assert imports[3] == imports[4] == imports[5] != imports[2]  # a new one, continued after stop
    assert imports[6] != imports[5]  # a new container after the timeout


def test_a_file_that_kills_the_server_and_exits_at_once_keeps_its_status(
    kubo: KuboProcess,
    engine: docker.DockerClient,
    python_image: str,
    target: PipTarget,
    tmp_path: Path,
) -> None:
    """A dying server must not reap the file it served: its status reaches PID 1 (CI once saw
    the race as 137, "killed at the memory limit", for a file that ended well)."""
    contents = [f"f{i}".encode() for i in range(4)]
    results = run_function_shard(kubo, engine, python_image, target, tmp_path, "outrun", contents)
    assert [r.exit_code for r in results] == [0] * 4, [r.error for r in results]
    assert outputs(kubo, results) == [f"f{i} done\n" for i in range(4)]


@pytest.mark.parametrize(
    ("why", "prelude"),
    [
        ("a thread", "threading.Thread(target=time.sleep, args=(600,), daemon=True).start()"),
        ("a file in /tmp", "open('/tmp/cache', 'w').write('made at import')"),
    ],
)
def test_an_import_that_cannot_be_forked_gets_an_interpreter_per_file(
    kubo: KuboProcess,
    engine: docker.DockerClient,
    python_image: str,
    target: PipTarget,
    tmp_path: Path,
    why: str,
    prelude: str,
) -> None:
    """Threads do not survive fork and /tmp is emptied between files: such a module is imported
    by every file, as before the server, and sees what its own import made."""
    script = SCRIPT.replace('print("importing")', prelude, 1)
    contents = [b"a", b"b", b"c"]
    results = run_function_shard(
        kubo, engine, python_image, target, tmp_path, "remember", contents, script=script
    )
    assert all(r.ok for r in results), [r.error for r in results]
    imports = {tuple(line.split()[:2]) for line in outputs(kubo, results)}
    assert len(imports) == 3, why  # each file imported the module itself


@pytest.mark.parametrize(
    ("name", "prelude", "code", "message"),
    [
        ("remember", "raise ValueError('cannot import')", 1, "ValueError: cannot import"),
        ("crash", "", 2, "process.py has no function 'crash'"),  # `crash = None` at the end
    ],
)
def test_an_import_error_or_an_unusable_function_fails_each_file_as_before(
    kubo: KuboProcess,
    engine: docker.DockerClient,
    python_image: str,
    target: PipTarget,
    tmp_path: Path,
    name: str,
    prelude: str,
    code: int,
    message: str,
) -> None:
    script = SCRIPT.replace('print("importing")', prelude, 1) + "\ncrash = None\n"
    results = run_function_shard(
        kubo, engine, python_image, target, tmp_path, name, [b"a", b"b"], script=script
    )
    assert [r.exit_code for r in results] == [code, code]
    assert all(message in r.stderr for r in results), results[0].stderr


def test_a_forked_file_runs_as_nobody_with_no_capability(
    kubo: KuboProcess,
    engine: docker.DockerClient,
    python_image: str,
    target: PipTarget,
    tmp_path: Path,
) -> None:
    results = run_function_shard(kubo, engine, python_image, target, tmp_path, "who", [b"a"])
    assert results[0].ok, results[0].error
    assert outputs(kubo, results) == ["65534 65534 [] 0000000000000000\n"]
