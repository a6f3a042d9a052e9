"""The node's openings (cluster/sealed.py), without daemons: one seal per answer, each opening
given once, and a bounded memory of jobs."""

from __future__ import annotations

from codsh.cluster import sealed
from codsh.cluster.sealed import Openings
from codsh.core.commit import Opening, unseal
from codsh.core.model import FileResult


def answer(path: str = "a.log") -> FileResult:
    return FileResult(path, "bafyin", 3, exit_code=0, output_cid="bafyout", node="n0")


def test_a_run_is_sealed_once_and_opened_once() -> None:
    openings = Openings()
    seal = openings.sealer("job", "n0")
    first, again = seal(answer()), seal(answer())  # its message, then the shard's answer
    assert first == again and first.output_cid is None and first.commitment
    given = openings.take("job", [first.commitment])
    assert list(given) == [first.commitment] and openings.take("job", [first.commitment]) == {}
    opened = unseal(first, Opening.from_dict(given[first.commitment]), "job")
    assert opened is not None and opened.output_cid == "bafyout"
    assert seal(first) is first  # already sealed: as it is


def test_openings_of_jobs_no_driver_asked_for_are_bounded() -> None:
    openings = Openings()
    for index in range(sealed.MAX_JOBS + 5):
        openings.sealer(f"job{index}", "n0")(answer())
    assert len(openings._jobs) == sealed.MAX_JOBS and "job0" not in openings._jobs
