"""The host's reading of a container's framed stream out (executor/streams.py), fed by hand:
frames cut anywhere by the pipe come back whole, and a malformed frame is an error, not a guess."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from codsh.errors import InfrastructureError
from codsh.executor.streams import ContainerStreams, ShardOutputs

FRAMES = b"O 0 5\nhello" + b"R 0 4\noops" + b"S 0 1 cpu=1500 rss=64 clean\n" + b"O 1 0\n"
FRAMES += b"S 1 0 cpu=0 rss=0 dirty:processes\n"


async def _read(streams: ContainerStreams, pieces: list[bytes]) -> tuple[bytes, ShardOutputs]:
    outputs = ShardOutputs(limit=1000, stderr_limit=2)
    buffer = b""
    async with trio.open_nursery() as nursery:

        async def part() -> None:
            nonlocal got
            got = b"".join([chunk async for chunk in outputs.chunks(0)])

        got = b""
        nursery.start_soon(part)
        for piece in pieces:
            buffer = await streams._frames(buffer + piece, outputs)
        assert buffer == b""
    return got, outputs


@pytest.mark.parametrize("cut", range(1, len(FRAMES)))
def test_frames_cut_anywhere_come_back_whole(tmp_path: Path, cut: int) -> None:
    streams = ContainerStreams(tmp_path, "c1")
    got, outputs = trio.run(_read, streams, [FRAMES[:cut], FRAMES[cut:]])
    assert got == b"hello"
    assert bytes(outputs.of(0).stderr) == b"oo"  # capped at stderr_limit
    said0, said1 = outputs.said(0), outputs.said(1)
    assert said0 is not None and said0.code == 1 and said0.cpu_seconds == 0.0015
    assert said1 is not None and said1.dirty == "processes" and said1.max_rss == 0


@pytest.mark.parametrize("bad", [b"X 0 3\nabc", b"O zero 3\nabc", b"O 0 -3\n", b"S nonsense\n"])
def test_a_malformed_frame_is_an_infrastructure_error(tmp_path: Path, bad: bytes) -> None:
    streams = ContainerStreams(tmp_path, "c1")
    with pytest.raises(InfrastructureError, match="malformed"):
        trio.run(streams._frames, bad, ShardOutputs(limit=10, stderr_limit=10))
