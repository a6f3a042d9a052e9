"""`codsh.aio` under trio and under asyncio (through anyio), in both modes: the same jobs,
awaited, with the loop never blocked; and a function with a requirement (a wheel made here)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import anyio
import pytest
import trio

import codsh
import codsh.aio
from tests.api.conftest import Orchestrator
from tests.client import functions
from tests.commands.cli import write_tree
from tests.wheels import make_wheel


async def jobs_awaited(client: codsh.aio.AsyncClient, folder: Path) -> None:
    source = await client.add(folder)
    ticks = 0

    async def tick() -> None:  # runs while the jobs are waited for: the loop is not blocked
        nonlocal ticks
        while True:
            await anyio.sleep(0.05)
            ticks += 1

    async with anyio.create_task_group() as group:
        group.start_soon(tick)
        slow = await client.submit("sleep 2; cat", source)
        counted = await client.submit("wc -c", slow, concat=True)  # waits for slow's output
        quick = await client.submit("cat", source)
        seen = [job async for job in codsh.aio.as_completed([counted, quick], timeout=120)]
        group.cancel_scope.cancel()
    assert ticks > 10 and set(seen) == {counted, quick}
    assert await client.cat(await counted.result()) == b"4\n"
    assert await quick.result() == await slow.result()
    assert await counted.status() == "succeeded" and await counted.done()
    events = [event async for event in counted.events()]
    assert events[-1]["event"] == "end" and events[-1]["output"] == await counted.result()
    assert [f.path for f in await slow.files()] == ["a.txt"]
    done, not_done = await codsh.aio.wait([slow, quick])
    assert done == {slow, quick} and not not_done
    assert (await client.job(slow.id)) == slow


@pytest.mark.parametrize("backend", ["trio", "asyncio"])
def test_aio_under_trio_and_asyncio(client: codsh.Client, tmp_path: Path, backend: str) -> None:
    folder = write_tree(tmp_path / "in", {"a.txt": uuid.uuid4().hex[:4].encode()})
    anyio.run(jobs_awaited, codsh.aio.AsyncClient(client), folder, backend=backend)


def test_a_cancelled_wait_returns_at_once(client: codsh.Client, tmp_path: Path) -> None:
    async def main() -> None:
        aclient = codsh.aio.AsyncClient(client)
        source = await aclient.add(write_tree(tmp_path / "in", {"a": uuid.uuid4().bytes}))
        job = await aclient.submit("sleep 60; cat", source)
        started = trio.current_time()
        with trio.move_on_after(0.5):
            await job.result()
        assert trio.current_time() - started < 1
        assert await job.status() == "running"
        assert await job.cancel()

    trio.run(main)


def test_a_function_with_a_requirement(
    client: codsh.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, python_image: str
) -> None:
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "codsh_tiny", "def hello():\n    return 'hello from a wheel'\n")
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip download finds it here, offline
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    (tmp_path / "requirements.txt").write_text("codsh_tiny==1.0\n")
    source = client.add(write_tree(tmp_path / "in", {"a.txt": uuid.uuid4().hex.encode()}))
    job = client.submit(functions.greet, source, requirements=tmp_path / "requirements.txt")
    output = job.result(timeout=300)
    assert client.cat(f"{output}/a.txt").startswith(b"hello from a wheel: ")


USER_SCRIPT = """
import sys

def greet(infile):
    import codsh_tiny  # from the requirements' wheel
    return codsh_tiny.hello() + ": " + infile.read().decode()

if __name__ == "__main__":
    import codsh  # here, not at the top: the nodes get this file, and have no codsh

    client = codsh.connect()  # CODSH_API and CODSH_TOKEN
    source = client.add(sys.argv[1])
    job = client.submit(greet, source, requirements="requirements.txt")
    print(client.cat(job.result(timeout=300) + "/a.txt").decode())
"""


def test_a_requirement_through_the_api_without_a_python_image_here(
    orchestrator: Orchestrator, tmp_path: Path, python_image: str
) -> None:
    """A user's script on a machine without Docker (its own process: DOCKER_HOST names a socket
    where no engine listens, as on a laptop) has no codsh/python to read wheel tags from: the
    client asks the orchestrator for them (it said "build it here" before). The orchestrator
    runs the job in the real engine; pip runs for real, offline, from a wheel made here."""
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "codsh_tiny", "def hello():\n    return 'hello from a wheel'\n")
    (tmp_path / "requirements.txt").write_text("codsh_tiny==1.0\n")
    (tmp_path / "greet.py").write_text(USER_SCRIPT)
    folder = write_tree(tmp_path / "in", {"a.txt": uuid.uuid4().hex.encode()})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODSH_", "DOCKER_"))}
    env |= {
        "CODSH_API": orchestrator.url,
        "CODSH_TOKEN": orchestrator.tokens["alice"],
        "DOCKER_HOST": f"unix://{tmp_path / 'no-docker.sock'}",
        "PIP_NO_INDEX": "1",  # pip download finds the wheel here, offline
        "PIP_FIND_LINKS": str(wheels),
        "CODSH_HOME": str(tmp_path / "home"),
    }
    ran = subprocess.run(
        [sys.executable, "greet.py", str(folder)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("hello from a wheel: ")
