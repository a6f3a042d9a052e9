"""A shard's per-file messages, a few at a time (cluster/news.py): none waits past EVERY, none is
lost at the shard's end, and the driver reads one or several from an event alike."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from codsh.cluster.messages import FileDone, Wire, news_of
from codsh.cluster.news import EVERY, MOST, NewsBatch, reporting
from codsh.core.model import FileResult


def message(path: str) -> Wire:
    result = FileResult(path, "bafkin", 1, 0, "bafkout", 1, 1)
    return FileDone("job", 1, "tcp://node", result, "key").to_wire()


def test_the_driver_reads_one_message_or_several_and_ignores_other_events() -> None:
    events: list[Wire] = []
    batch = NewsBatch(events.append)
    batch.add(message("a"))
    batch.add(message("b"))
    batch.flush()
    batch.flush()  # nothing pending: nothing sent
    assert len(events) == 1
    assert [done.result.path for done in news_of(events[0])] == ["a", "b"]
    assert [done.result.path for done in news_of(message("c"))] == ["c"]
    assert news_of({"kind": "another"}) == [] and news_of("text") == []


def test_a_full_batch_goes_at_once() -> None:
    events: list[Wire] = []
    batch = NewsBatch(events.append)
    for index in range(MOST + 1):
        batch.add(message(str(index)))
    assert [len(news_of(event)) for event in events] == [MOST]


def test_a_finished_file_is_told_within_every_while_the_shard_goes_on() -> None:
    told: list[tuple[float, int]] = []
    batch = NewsBatch(lambda event: told.append((trio.current_time(), len(news_of(event)))))

    async def shard() -> str:
        batch.add(message("fast"))
        await trio.sleep(10)  # a slow next file
        batch.add(message("slow"))
        return "done"

    async def main() -> str:
        return await reporting(batch, shard)

    assert trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0)) == "done"
    assert told[0] == (pytest.approx(EVERY), 1)  # not after the slow file
    assert told[-1] == (pytest.approx(10), 1)  # the last one at the end


def test_an_error_of_the_shard_comes_out_as_itself_and_what_finished_is_told() -> None:
    events: list[Wire] = []
    batch = NewsBatch(events.append)

    async def shard() -> None:
        batch.add(message("a"))
        raise RuntimeError("broken")

    with pytest.raises(RuntimeError, match="broken"):
        trio.run(reporting, batch, shard)
    assert [done.result.path for event in events for done in news_of(event)] == ["a"]
