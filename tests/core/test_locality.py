"""The locality report counts where files ran (the node that produced each result), not where
their shards were placed first: issue 16, finding 12. Pure: the policy is fed events by hand."""

from __future__ import annotations

from codsh.core.model import FileResult, InputFile, Shard
from codsh.core.plan import FileRun, LocalityReport, Task, locality_lines
from codsh.core.reschedule import Reschedule, Submit

NAMES = {"tcp://a": "node0", "tcp://b": "node1"}


def files(prefix: str, count: int, size: int = 100) -> tuple[InputFile, ...]:
    return tuple(InputFile(f"{prefix}/f{i}", f"cid-{prefix}-{i}", size) for i in range(count))


def ok(file: InputFile) -> FileResult:
    return FileResult(file.path, file.cid, file.size, exit_code=0, output_cid=f"out-{file.cid}")


def test_a_node_killed_before_running_anything_is_not_in_the_report() -> None:
    mine, theirs = files("a", 2), files("b", 2)
    holders = {f.cid: frozenset({"tcp://a"}) for f in mine}
    holders |= {f.cid: frozenset({"tcp://b"}) for f in theirs}
    policy = Reschedule(holders, NAMES)
    tasks = [Task(Shard(0, mine), "tcp://a", 200), Task(Shard(1, theirs), "tcp://b", 200)]
    started = [a for a in policy.start(tasks, sorted(NAMES)) if isinstance(a, Submit)]
    first = {s.task.node: s.attempt for s in started}
    moved = [a for a in policy.nodes_seen(["tcp://a"], 1.0) if isinstance(a, Submit)]
    assert [s.task.node for s in moved] == ["tcp://a"]  # node1 left: its shard runs on node0
    policy.finished(first["tcp://a"], "tcp://a", [ok(f) for f in mine])
    policy.finished(moved[0].attempt, "tcp://a", [ok(f) for f in theirs])

    report = policy.locality()
    assert report.files_per_node == {"node0": 4} and report.shards_per_node == {"node0": 2}
    assert report.locality == 0.5 and report.bytes_moved == 200 and report.bytes_total == 400
    assert report.rescheduled == 1 and report.not_run == 0


def test_a_file_that_ran_nowhere_is_counted_apart() -> None:
    mine = files("a", 2)
    policy = Reschedule({f.cid: frozenset({"tcp://a"}) for f in mine}, NAMES)
    (submit,) = policy.start([Task(Shard(0, mine), "tcp://a", 200)], ["tcp://a"])
    assert isinstance(submit, Submit)
    policy.file_done(submit.attempt, "tcp://a", ok(mine[0]))
    policy.abandon("the connection to the scheduler is lost")
    report = policy.locality()
    assert report.files_per_node == {"node0": 1} and report.not_run == 1
    assert report.locality == 1.0 and report.bytes_total == 100


def test_the_summary_says_where_files_ran_and_who_was_left_out() -> None:
    runs = [FileRun(f, "tcp://a", 1, True) for f in files("a", 3)]
    report = LocalityReport.of_runs(runs, NAMES, not_run=2)
    report = LocalityReport(**{**vars(report), "left_out": {"w (tcp://w)": "not a codsh node"}})
    lines = locality_lines(vars(report))
    assert lines[0] == (
        "locality 1.00, 0 moved between nodes; ran on node0: 3 file(s) in 1 shard(s); "
        "2 file(s) ran nowhere"
    )
    assert lines[1] == "warning: w (tcp://w) took no shard: not a codsh node"
    assert LocalityReport.of_runs([]).locality == 1.0
