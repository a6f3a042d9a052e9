"""The split of a job's input into results already had and work to do (codsh/core/memo.split):
pure logic, no daemons."""

from __future__ import annotations

from codsh.core.memo import split
from codsh.core.model import FileResult, InputFile, Outcome, timeout_error

A = InputFile("a.txt", "bafka", 1)
B = InputFile("b.txt", "bafkb", 1)
B_TWIN = InputFile("copy/b.txt", "bafkb", 1)  # the same bytes as B under another path
C = InputFile("c.txt", "bafkc", 1)


def done(file: InputFile, output: str = "bafkout", outcome: Outcome = Outcome.OK) -> FileResult:
    result = FileResult(file.path, file.cid, file.size, 0, output, 3, 3)
    if outcome is not Outcome.OK:
        result.fail(outcome, str(outcome))
    return result


def paths(files: list[InputFile]) -> list[str]:
    return [f.path for f in files]


def test_with_nothing_had_everything_runs() -> None:
    work = split([A, B, C], {}, {}, set())
    assert (paths(work.todo), work.kept, work.twins) == (["a.txt", "b.txt", "c.txt"], [], {})


def test_an_earlier_result_of_the_same_job_is_kept_by_path_and_cid() -> None:
    """A file the job already did (same path, same input CID) is not run again, as it was."""
    earlier = done(A)
    work = split([A, B], {"a.txt": earlier}, {}, set())
    assert work.kept == [earlier] and not work.kept[0].reused
    assert paths(work.todo) == ["b.txt"]


def test_an_earlier_result_for_other_bytes_at_the_same_path_runs_again() -> None:
    changed = InputFile("a.txt", "bafkchanged", 1)
    work = split([changed], {"a.txt": done(A)}, {}, set())
    assert (paths(work.todo), work.kept) == (["a.txt"], [])


def test_an_earlier_failure_of_the_command_is_kept() -> None:
    """A file that timed out ran: it is its result, not run again on resume."""
    slow = FileResult(A.path, A.cid, A.size)
    slow.fail(Outcome.TIMED_OUT, timeout_error(2, "the container was killed"))
    work = split([A], {"a.txt": slow}, {}, set())
    assert work.kept == [slow] and work.todo == []


def test_an_earlier_infrastructure_failure_runs_again() -> None:
    """A file lost with its container or node did not run: resume runs it."""
    lost = FileResult.lost(A, Outcome.INFRASTRUCTURE, "infrastructure failed: node left")
    work = split([A], {"a.txt": lost}, {}, set())
    assert (paths(work.todo), work.kept) == (["a.txt"], [])


def test_a_memo_hit_is_used_only_when_its_output_is_available() -> None:
    hit = done(InputFile("elsewhere.txt", A.cid, 1), output="bafkremembered")
    used = split([A], {}, {A.cid: hit}, {"bafkremembered"})
    assert used.todo == []
    [kept] = used.kept
    assert (kept.path, kept.output_cid, kept.reused) == ("a.txt", "bafkremembered", True)

    gone = split([A], {}, {A.cid: hit}, {"bafksomethingelse"})
    assert (paths(gone.todo), gone.kept) == (["a.txt"], [])


def test_an_infrastructure_loss_with_a_memo_hit_takes_the_hit() -> None:
    lost = FileResult.lost(A, Outcome.INFRASTRUCTURE, "node left")
    hit = done(A, output="bafkremembered")
    work = split([A], {"a.txt": lost}, {A.cid: hit}, {"bafkremembered"})
    assert work.todo == [] and work.kept[0].output_cid == "bafkremembered"


def test_twins_run_once_with_dedupe_and_share_the_result() -> None:
    work = split([B, B_TWIN, C], {}, {}, set(), dedupe=True)
    assert paths(work.todo) == ["b.txt", "c.txt"]
    assert {cid: paths(files) for cid, files in work.twins.items()} == {"bafkb": ["copy/b.txt"]}
    complete = work.complete([done(B, "bafkob"), done(C, "bafkoc")])
    twin = next(r for r in complete if r.path == "copy/b.txt")
    assert (twin.output_cid, twin.reused) == ("bafkob", True)
    assert sorted(r.path for r in complete) == ["b.txt", "c.txt", "copy/b.txt"]


def test_without_dedupe_every_twin_runs() -> None:
    """--no-memo runs every file, identical ones too."""
    work = split([B, B_TWIN, C], {}, {}, set(), dedupe=False)
    assert (paths(work.todo), work.twins) == (["b.txt", "copy/b.txt", "c.txt"], {})


def test_a_twin_of_a_file_already_done_runs_itself() -> None:
    """Only files still to run are grouped: the twin of a kept file runs (once)."""
    work = split([B, B_TWIN], {"b.txt": done(B)}, {}, set(), dedupe=True)
    assert paths(work.todo) == ["copy/b.txt"] and work.twins == {}
