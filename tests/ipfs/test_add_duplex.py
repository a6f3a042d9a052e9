"""`add` streams both ways (issue 16, finding 7): kubo answers a line per file while it still reads
the body, so a client that reads only once it has sent everything deadlocks with kubo as soon as
the answer outgrows the socket queues (~45,000 files with short names). Real kubo throughout; the
tests that stop a daemon (SIGSTOP) start one of their own.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio

from codsh import kubo_daemon
from codsh.errors import InputError
from codsh.ipfs.client import AddOptions, AddResult, KuboClient, KuboStalled
from codsh.ipfs.multipart import AddEntry
from codsh.ipfs.sources import SMALL, once, read_entries, scan
from codsh.kubo_daemon import KuboProcess
from tests.conftest import IpfsCall, run

# 240-character names make kubo's answer ~350 bytes a file: old code hung at 15,000 such files
# (8,000 passed); 30,000 is ~10 MB of answer, well past what the socket queues hold.
LONG = "x" * 240
MANY = 30_000


def long_named(count: int, folder: str = "d") -> list[AddEntry]:
    return [AddEntry(folder)] + [
        AddEntry(f"{folder}/{i:07d}{LONG}", once(b"%d\n" % i)) for i in range(count)
    ]


@pytest.fixture
def own_kubo(tmp_path: Path) -> Iterator[KuboProcess]:
    """A daemon of this test's own (it gets stopped with SIGSTOP); always resumed and stopped."""
    process = kubo_daemon.start(tmp_path / "repo")
    try:
        yield process
    finally:
        os.kill(process.pid, signal.SIGCONT)
        kubo_daemon.stop(process.repo)


def test_an_answer_larger_than_the_socket_queues_does_not_deadlock(ipfs_call: IpfsCall) -> None:
    """30,000 files whose answer is ~10 MB: every file is reported and the directory is whole
    (before: both sides blocked on full queues for ever; the deadline turns that into a failure)."""

    async def go(ipfs: KuboClient) -> tuple[list[AddResult], int]:
        results = await ipfs.add(long_named(MANY), AddOptions(only_hash=True))
        return results, len(results)

    results, count = ipfs_call(go, deadline=120)
    assert count == MANY + 1
    assert results[-1].name == "d"
    assert {r.name for r in results[:-1]} == {e.path for e in long_named(MANY)[1:]}


def test_add_stream_yields_results_while_the_body_is_still_being_sent(ipfs_call: IpfsCall) -> None:
    """The last file is produced only once 1,000 CIDs came back: a client that reads only after
    sending never gets there."""
    seen_enough = trio.Event()

    async def entries() -> AsyncIterator[AddEntry]:
        for entry in long_named(3_000):
            yield entry
        await seen_enough.wait()
        yield AddEntry("d/~last", once(b"last\n"))

    async def go(ipfs: KuboClient) -> list[str]:
        names = []
        async for result in ipfs.add_stream(entries(), AddOptions(pin=False)):
            names.append(result.name)
            if len(names) == 1_000:
                seen_enough.set()
        return names

    names = ipfs_call(go, deadline=60)
    assert len(names) == 3_002
    assert names[-2:] == ["d/~last", "d"]


def stop_after_first_result(kubo: KuboProcess, stall: float) -> tuple[KuboStalled, float, int]:
    """Add many files; SIGSTOP the daemon once its first CID came back; the stall error, how long
    after the stop it came, and how many results arrived."""

    async def go() -> tuple[KuboStalled, float, int]:
        seen = 0
        stopped = 0.0
        async with KuboClient(kubo.api_url, stall=stall) as ipfs:
            try:
                async for _ in ipfs.add_stream(long_named(MANY), AddOptions(pin=False)):
                    seen += 1
                    if seen == 1:
                        os.kill(kubo.pid, signal.SIGSTOP)
                        stopped = time.monotonic()
            except KuboStalled as exc:
                return exc, time.monotonic() - stopped, seen
        raise AssertionError("the add ended although kubo was stopped")

    return run(go, deadline=60)


def test_a_kubo_that_stops_answering_mid_add_is_named(own_kubo: KuboProcess) -> None:
    """kubo stopped (SIGSTOP) in the middle of an add: within the stall period and its probe
    (a version request, which a stopped daemon does not answer either), a KuboStalled that names
    the daemon, says how far the add got and what to check; not a hang."""
    error, waited, seen = stop_after_first_result(own_kubo, stall=1.0)
    assert 1.5 <= waited < 10, waited  # the stall (1 s) and the probe (1 s) after the last byte
    assert seen < MANY
    assert own_kubo.api_url in error.message
    assert "stopped answering during add" in error.message
    assert "did not answer a version request" in error.message
    assert "files" in error.message and "bytes sent" in error.message
    assert "ipfs log" in error.hint and "memory" in error.hint
    assert error.exit_code == 2


def test_a_short_pause_of_kubo_is_not_a_stall(own_kubo: KuboProcess) -> None:
    """kubo paused longer than the stall period, but resumed before the probe gave up: it
    answers the probe, so the add goes on and completes (a busy kubo is not a stuck one)."""

    async def go() -> int:
        count = 0

        async def pause() -> None:
            os.kill(own_kubo.pid, signal.SIGSTOP)
            await trio.sleep(3.0)  # silent past the 2 s stall; the probe waits 2 s more
            os.kill(own_kubo.pid, signal.SIGCONT)

        async with KuboClient(own_kubo.api_url, stall=2.0) as ipfs, trio.open_nursery() as nursery:
            async for _ in ipfs.add_stream(long_named(2_000), AddOptions(pin=False)):
                count += 1
                if count == 1:
                    nursery.start_soon(pause)
        return count

    assert run(go, deadline=60) == 2_001


def test_a_file_gone_after_the_listing_is_an_input_error_naming_it(
    ipfs_call: IpfsCall, tmp_path: Path
) -> None:
    """A file removed between the listing and its read (small: read in a batch; large: streamed)
    ends the add with an InputError naming it, not a traceback, and kubo is not left waiting."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "kept").write_bytes(b"kept\n")
    (tmp_path / "d" / "gone").write_bytes(b"gone\n")
    (tmp_path / "d" / "large").write_bytes(b"x" * (SMALL + 1))
    items = scan([tmp_path / "d"])
    for name in ("gone", "large"):
        data = (tmp_path / "d" / name).read_bytes()
        os.unlink(tmp_path / "d" / name)
        with pytest.raises(InputError) as caught:
            ipfs_call(lambda ipfs: ipfs.add(read_entries(items)), deadline=30)
        assert f"cannot read {tmp_path / 'd' / name}" in caught.value.message
        assert "No such file" in caught.value.message
        (tmp_path / "d" / name).write_bytes(data)
