"""The job feed: what a subscriber to a job's events receives (no daemons: the feed is a channel)."""

from __future__ import annotations

from typing import Any

import trio

from codsh.api.service import JobFeed
from codsh.core.model import FileResult, Outcome


def result(path: str, reused: bool = False, ok: bool = True, node: str = "n1") -> FileResult:
    outcome = Outcome.OK if ok else Outcome.EXITED
    error = None if ok else "exit status 3"
    return FileResult(
        path,
        "bafkqaaa",
        10,
        0 if ok else 3,
        "bafkout",
        node=node,
        reused=reused,
        outcome=outcome,
        error=error,
    )


def received(feed: JobFeed, act: Any) -> list[dict[str, Any]]:
    async def main() -> list[dict[str, Any]]:
        receive = feed.subscribe()
        act(feed)
        feed.finish({"event": "end"})
        return [event async for event in receive]

    return trio.run(main)


def test_many_reused_files_come_as_one_progress_event_before_the_next_event() -> None:
    def act(feed: JobFeed) -> None:
        for index in range(30_000):  # more than a subscriber's buffer: it is not dropped
            feed.file(result(f"old/{index}", reused=True))
        feed.file(result("old/broken", reused=True, ok=False))  # a reused failure is shown
        feed.file(result("new/a"))

    events = received(JobFeed(files=30_002), act)
    assert [e["event"] for e in events] == ["progress", "file", "file", "end"]
    progress = events[0]
    assert (progress["done"], progress["reused"], progress["failed"]) == (30_000, 30_000, 0)
    assert progress["done_bytes"] == 300_000 and progress["nodes"] == {"n1": [30_000, 0]}
    assert events[1]["path"] == "old/broken" and events[1]["outcome"] == "exited"
    assert events[2]["path"] == "new/a" and not events[2]["reused"]


def test_reused_files_at_the_end_are_counted_before_the_end() -> None:
    def act(feed: JobFeed) -> None:
        feed.file(result("a"))
        feed.file(result("b", reused=True))

    events = received(JobFeed(files=2), act)
    assert [e["event"] for e in events] == ["file", "progress", "end"]
    assert events[1]["done"] == 2 and events[1]["reused"] == 1


def test_a_progress_event_keeps_its_counts_when_more_files_come() -> None:
    feed = JobFeed(files=2)
    feed.file(result("a"))
    first = feed.progress()
    feed.file(result("b"))
    assert first["nodes"] == {"n1": [1, 0]} and feed.progress()["nodes"] == {"n1": [2, 0]}
