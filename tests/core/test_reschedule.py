"""The reschedule policy: every decision, fed events by hand (no daemons, no Dask)."""

from __future__ import annotations

from dataclasses import replace

from codsh.core.model import FileResult, InputFile, Outcome, Shard
from codsh.core.plan import Task
from codsh.core.reschedule import (
    MAX_LOST,
    NO_NODE_WAIT,
    Action,
    Cancel,
    Lost,
    Report,
    Reschedule,
    Submit,
    unfinished,
)

NAMES = {"tcp://a": "node0", "tcp://b": "node1", "tcp://c": "node2"}
LIVE = sorted(NAMES)


def files(prefix: str, count: int, size: int = 100) -> tuple[InputFile, ...]:
    return tuple(InputFile(f"{prefix}/f{i}", f"cid-{prefix}-{i}", size) for i in range(count))


def ok(file: InputFile) -> FileResult:
    return FileResult(file.path, file.cid, file.size, exit_code=0, output_cid=f"out-{file.cid}")


def submits(actions: list[Action]) -> list[Submit]:
    return [a for a in actions if isinstance(a, Submit)]


def reported(actions: list[Action]) -> list[str]:
    return [r.path for a in actions if isinstance(a, Report) for r in a.results]


def lost(actions: list[Action]) -> list[Lost]:
    return [a for a in actions if isinstance(a, Lost)]


def started(
    shards: dict[str, tuple[InputFile, ...]], holders: dict[str, frozenset[str]] | None = None
) -> tuple[Reschedule, dict[str, int]]:
    """A policy that submitted one shard per node of `shards` (node -> files); attempt per node."""
    policy = Reschedule(holders or {}, NAMES)
    tasks = [Task(Shard(i, fs), node, 0) for i, (node, fs) in enumerate(shards.items())]
    actions = policy.start(tasks, LIVE)
    return policy, {s.task.node: s.attempt for s in submits(actions)}


def test_every_shard_is_submitted_to_its_node_as_its_own_attempt() -> None:
    policy, attempts = started({"tcp://a": files("a", 2), "tcp://b": files("b", 2)})
    assert sorted(attempts) == ["tcp://a", "tcp://b"] and len(set(attempts.values())) == 2
    assert not policy.done and policy.rescheduled == 0


def test_a_finished_shard_reports_its_files_named_by_node() -> None:
    given = files("a", 3)
    policy, attempts = started({"tcp://a": given})
    actions = policy.finished(attempts["tcp://a"], "tcp://a", [ok(f) for f in given])
    assert reported(actions) == [f.path for f in given]
    assert {r.node for r in policy.results} == {"node0"}
    assert policy.done and policy.rescheduled == 0


def test_a_file_is_reported_once_and_the_shard_answer_completes_it() -> None:
    given = files("a", 2)
    policy, attempts = started({"tcp://a": given})
    attempt = attempts["tcp://a"]
    assert reported(policy.file_done(attempt, "tcp://a", ok(given[0]))) == [given[0].path]
    assert policy.file_done(attempt, "tcp://a", ok(given[0])) == []  # a duplicate message
    final = [replace(ok(f), stderr_cid="err") for f in given]  # the answer knows more
    actions = policy.finished(attempt, "tcp://a", final)
    assert reported(actions) == [given[1].path]  # only what was not reported yet
    assert all(r.stderr_cid == "err" for r in policy.results) and policy.done


def test_a_message_from_a_node_the_attempt_was_not_given_to_is_not_its_news() -> None:
    """Replicas of a job number their attempts alike: node b's message for attempt 1 of
    another replica must not stand for node a's run of the same file."""
    given = files("a", 2)
    policy, attempts = started({"tcp://a": given})
    assert policy.file_done(attempts["tcp://a"], "tcp://b", ok(given[0])) == []
    assert reported(policy.file_done(attempts["tcp://a"], "tcp://a", ok(given[0]))) == [
        given[0].path
    ]


def test_messages_of_an_abandoned_attempt_are_ignored() -> None:
    given = files("a", 2)
    policy, attempts = started({"tcp://a": given, "tcp://b": files("b", 1)})
    moved = policy.nodes_seen(["tcp://b", "tcp://c"], now=1.0)
    assert Cancel(attempts["tcp://a"]) in moved
    assert policy.file_done(attempts["tcp://a"], "tcp://a", ok(given[0])) == []
    assert policy.finished(attempts["tcp://a"], "tcp://a", [ok(f) for f in given]) == []
    assert policy.infrastructure_failed(attempts["tcp://a"], "tcp://a", "x", []) == []
    assert policy.scheduler_lost(attempts["tcp://a"]) == []


def test_an_infrastructure_failure_keeps_what_finished_and_reruns_the_rest_elsewhere() -> None:
    given = files("a", 4)
    holders = {f.cid: frozenset({"tcp://a", "tcp://c"}) for f in given}
    policy, attempts = started({"tcp://a": given}, holders)
    done_before = [ok(given[0]), ok(given[1])]
    actions = policy.infrastructure_failed(attempts["tcp://a"], "tcp://a", "kubo down", done_before)
    assert reported(actions) == [given[0].path, given[1].path]
    (again,) = submits(actions)
    assert again.task.node == "tcp://c"  # the other holder, not the least busy non-holder
    assert again.task.shard.files == given[2:] and again.task.local_bytes == 200
    assert again.task.shard.index == 0 and policy.rescheduled == 1
    policy.finished(again.attempt, "tcp://c", [ok(f) for f in given[2:]])
    assert policy.done and {r.path: r.node for r in policy.results} == {
        given[0].path: "node0",
        given[1].path: "node0",
        given[2].path: "node2",
        given[3].path: "node2",
    }


def test_a_second_infrastructure_failure_loses_the_rest_saying_where_each_failed() -> None:
    given = files("a", 3)
    policy, attempts = started({"tcp://a": given})
    (again,) = submits(policy.infrastructure_failed(attempts["tcp://a"], "tcp://a", "no image", []))
    actions = policy.infrastructure_failed(
        again.attempt, again.task.node, "no image", [ok(given[0])]
    )
    assert reported(actions) == [given[0].path] and submits(actions) == []
    (gone,) = lost(actions)
    second = NAMES[again.task.node]
    assert gone.reason == f"infrastructure failed on node0: no image; then on {second}: no image"
    assert [r.path for r in gone.results] == [given[1].path, given[2].path]
    assert all(r.outcome is Outcome.INFRASTRUCTURE and r.error == gone.reason for r in gone.results)
    assert all(r.node == second for r in gone.results)
    assert policy.done and policy.rescheduled == 1 and len(policy.results) == 3


def test_an_infrastructure_failure_with_no_other_node_loses_the_rest_at_once() -> None:
    given = files("a", 2)
    policy = Reschedule({}, NAMES)
    (first,) = submits(policy.start([Task(Shard(0, given), "tcp://a", 0)], ["tcp://a"]))
    actions = policy.infrastructure_failed(first.attempt, "tcp://a", "disk full", [])
    assert (
        submits(actions) == []
        and lost(actions)[0].reason == "infrastructure failed on node0: disk full"
    )
    assert policy.done and policy.rescheduled == 0


def test_an_infrastructure_failure_after_the_last_file_reruns_nothing() -> None:
    given = files("a", 2)
    policy, attempts = started({"tcp://a": given})
    actions = policy.infrastructure_failed(
        attempts["tcp://a"], "tcp://a", "pin failed", [ok(f) for f in given]
    )
    assert reported(actions) == [f.path for f in given] and len(actions) == 1
    assert policy.done and all(r.ok for r in policy.results)


def test_a_failing_shard_task_is_not_retried() -> None:
    given = files("a", 2)
    policy, attempts = started({"tcp://a": given})
    policy.file_done(attempts["tcp://a"], "tcp://a", ok(given[0]))
    actions = policy.failed(attempts["tcp://a"], "tcp://a", "ValueError: bug")
    (gone,) = lost(actions)
    assert gone.reason == "shard failed on node0: ValueError: bug"
    assert [r.path for r in gone.results] == [given[1].path] and policy.done


def test_the_rest_of_a_departed_nodes_shard_goes_where_most_of_its_bytes_are() -> None:
    given = files("a", 3)
    holders = {
        given[1].cid: frozenset({"tcp://b", "tcp://c"}),
        given[2].cid: frozenset({"tcp://c"}),
    }
    policy, attempts = started({"tcp://a": given}, holders)
    policy.file_done(attempts["tcp://a"], "tcp://a", ok(given[0]))
    actions = policy.nodes_seen(["tcp://b", "tcp://c"], now=5.0)
    assert actions[0] == Cancel(attempts["tcp://a"])
    (again,) = submits(actions)
    assert again.task.shard.files == given[1:]  # the file it reported is kept
    assert again.task.node == "tcp://c" and again.task.local_bytes == 200  # b holds 100
    assert policy.rescheduled == 1
    assert {r.node for r in policy.results} == {"node0"}


def test_with_no_node_left_shards_wait_then_are_lost_after_no_node_wait() -> None:
    given = files("a", 2)
    policy, attempts = started({"tcp://a": given})
    assert policy.nodes_seen([], now=10.0) == []
    assert policy.tick(10.0 + NO_NODE_WAIT) == [] and not policy.done
    actions = policy.tick(10.0 + NO_NODE_WAIT + 0.5)
    assert actions[0] == Cancel(attempts["tcp://a"])
    (gone,) = lost(actions)
    assert gone.reason == f"no codsh node left for {NO_NODE_WAIT:g}s" and len(gone.results) == 2
    assert policy.done


def test_a_node_coming_back_in_time_gets_the_waiting_shard() -> None:
    given = files("a", 2)
    policy, attempts = started({"tcp://a": given})
    policy.nodes_seen([], now=10.0)
    actions = policy.nodes_seen(["tcp://b"], now=20.0)
    assert submits(actions)[0].task.node == "tcp://b"
    assert policy.tick(10.0 + NO_NODE_WAIT * 2) == []  # the clock was reset


def test_a_shard_the_scheduler_lost_goes_again_to_its_node_until_max_lost() -> None:
    given = files("a", 3)
    policy, attempts = started({"tcp://a": given})
    attempt = attempts["tcp://a"]
    policy.file_done(attempt, "tcp://a", ok(given[0]))
    for _ in range(MAX_LOST):
        (again,) = submits(policy.scheduler_lost(attempt))
        assert again.task.node == "tcp://a" and again.task.shard.files == given[1:]
        attempt = again.attempt
    (gone,) = lost(policy.scheduler_lost(attempt))
    assert gone.reason == f"lost with the scheduler {MAX_LOST} times"
    assert policy.rescheduled == MAX_LOST and policy.done
    assert [r.ok for r in sorted(policy.results, key=lambda r: r.path)] == [True, False, False]


def test_abandon_loses_every_pending_file() -> None:
    policy, attempts = started({"tcp://a": files("a", 2), "tcp://b": files("b", 1)})
    actions = policy.abandon("the scheduler is gone")
    assert {a.attempt for a in actions if isinstance(a, Cancel)} == set(attempts.values())
    assert sum(len(x.results) for x in lost(actions)) == 3 and policy.done


def test_unfinished_keeps_input_order() -> None:
    given = files("a", 4)
    assert unfinished(given, {given[0].path, given[2].path}) == (given[1], given[3])


def test_a_node_that_left_counts_as_tried_for_the_infrastructure_rule() -> None:
    given = files("a", 2)
    policy, attempts = started({"tcp://a": given})
    (moved,) = submits(policy.nodes_seen(["tcp://b", "tcp://c"], now=1.0))
    actions = policy.infrastructure_failed(moved.attempt, moved.task.node, "disk full", [])
    assert submits(actions) == [] and len(lost(actions)[0].results) == 2  # two nodes tried


def test_a_shard_answer_missing_a_file_loses_that_file() -> None:
    given = files("a", 2)
    policy, attempts = started({"tcp://a": given})
    actions = policy.finished(attempts["tcp://a"], "tcp://a", [ok(given[0])])
    assert reported(actions) == [given[0].path]
    (gone,) = lost(actions)
    assert [r.path for r in gone.results] == [given[1].path] and "node0" in gone.reason
