"""`codsh job resume` through the orchestrator (POST /v1/jobs/ID/resume): a slow job cancelled
after a few files, resumed by a user with only CODSH_API, ends with the CID of an undisturbed run
and does not rerun the files it had done; and the refusals (404, 409, 400) of other resumes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from codsh.core.model import FileResult
from codsh.jobs.store import JobStore
from tests.api.conftest import Orchestrator
from tests.api.test_cli_api import user_env
from tests.commands.cli import codsh, write_tree

# each run of a file says a fresh random ID on stderr: a rerun file has a new one
SLOW = "cat /proc/sys/kernel/random/uuid >&2; sleep 1; cat"
FILES = {f"f{i}.txt": f"file {i}\n".encode() for i in range(6)}


@pytest.fixture(scope="module")
def source(orchestrator: Orchestrator, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = write_tree(tmp_path_factory.mktemp("resume") / "in", dict(FILES))
    return codsh("add", str(folder), env=orchestrator.env).cid


def submit(orchestrator: Orchestrator, source: str, **target: Any) -> str:
    spec = {"command": SLOW, "input": source, "target": {"memo": False, **target}}
    status, job = orchestrator.call("POST", "/v1/jobs", body=spec)
    assert status == 201, job
    return str(job["id"])


def recorded(orchestrator: Orchestrator, job: str) -> dict[str, FileResult]:
    """The per-file results the orchestrator's job store holds for `job`."""
    with JobStore(orchestrator.home / "jobs.sqlite") as store:
        return store.results(job)


def wait_for_files(orchestrator: Orchestrator, job: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, record = orchestrator.call("GET", f"/v1/jobs/{job}")
        assert status == 200 and record["state"] == "running", record
        if record["files_recorded"] >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"job {job} recorded fewer than {count} files in {timeout}s")


def test_a_cancelled_job_resumed_through_the_cli_keeps_its_files_done(
    orchestrator: Orchestrator, source: str, tmp_path: Path
) -> None:
    undisturbed = orchestrator.wait(submit(orchestrator, source))
    assert undisturbed["state"] == "succeeded", undisturbed
    job = submit(orchestrator, source, slots=1)
    wait_for_files(orchestrator, job, 2)
    status, answer = orchestrator.call("POST", f"/v1/jobs/{job}/resume")
    assert status == 409 and "is still running" in answer["error"], answer
    status, answer = orchestrator.call("POST", f"/v1/jobs/{job}/cancel")
    assert status == 202, answer
    assert orchestrator.wait(job)["state"] == "cancelled"
    before = {path: r for path, r in recorded(orchestrator, job).items() if r.ok}
    assert 2 <= len(before) < len(FILES), before

    env = user_env(orchestrator, tmp_path)
    resumed = codsh("job", "resume", job, env=env)
    assert resumed.code == 0, resumed.err
    assert resumed.cid == undisturbed["output"]
    assert f"resuming job {job} on {orchestrator.url}: {len(before)} files" in resumed.err
    logs = codsh("job", "logs", job, "--json", env=env)
    assert logs.code == 0, logs.err
    stderr = {entry["path"]: entry["stderr"] for entry in map(json.loads, logs.lines)}
    assert set(stderr) == set(FILES)
    for path, result in before.items():  # not rerun: the ID of their first run
        assert stderr[path] == result.stderr
    fresh = [stderr[p] for p in FILES if p not in before]
    assert fresh and not set(fresh) & {r.stderr for r in before.values()}
    assert all(len(text.strip()) == 36 for text in stderr.values()), stderr
    status, record = orchestrator.call("GET", f"/v1/jobs/{job}")
    assert (status, record["state"], record["output"]) == (200, "succeeded", resumed.cid)


def test_resume_refusals(orchestrator: Orchestrator, source: str, tmp_path: Path) -> None:
    job = submit(orchestrator, source)
    done = orchestrator.wait(job)
    assert done["state"] == "succeeded"
    status, answer = orchestrator.call("POST", f"/v1/jobs/{job}/resume", user="bob")
    assert status == 404, answer
    status, answer = orchestrator.call("POST", f"/v1/jobs/{job}/resume")
    assert status == 400 and answer["error"] == f"job {job} already succeeded: {done['output']}"
    refused = codsh("job", "resume", job, env=user_env(orchestrator, tmp_path))
    assert refused.code == 2 and "already succeeded" in refused.err, refused.err
    status, pipe = orchestrator.call(
        "POST", "/v1/pipes", body={"stages": ["false"], "input": source}
    )
    assert status == 201, pipe
    assert orchestrator.wait(pipe["id"])["state"] != "succeeded"
    status, answer = orchestrator.call("POST", f"/v1/jobs/{pipe['id']}/resume", user="admin")
    assert status == 400 and "is a pipeline" in answer["error"], answer
    status, answer = orchestrator.call("POST", "/v1/jobs/nosuchjob/resume")
    assert status == 404, answer
