"""An infrastructure failure in the middle of a shard, on one node (real kubo, real Docker).

The fault is real and deterministic: a proxy in front of the Docker engine (tests/faulty_docker.py)
answers chosen container-create requests with HTTP 500, so the engine of `LocalExecution` fails
exactly when the shard replaces the container of a file that timed out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import docker
import pytest

from codsh.core.model import FileResult, Outcome
from codsh.core.spec import JobSpec, Limits
from codsh.errors import InfrastructureError
from codsh.executor.container import JOB_LABEL, ShardContainer
from codsh.inputs import InputTree
from codsh.ipfs.client import KuboClient
from codsh.jobs.finish import JobResult
from codsh.jobs.local import LocalExecution
from codsh.jobs.run import run_job
from codsh.kubo_daemon import KuboProcess
from tests.conftest import ipfs_cli, run
from tests.faulty_docker import FaultyDocker

# The slow file outlives its timeout, so its container is killed and a new one is created for the
# files after it: that second create is where the proxy strikes.
COMMAND = 'read -r line; case "$line" in *slow*) sleep 30;; esac; echo "$line" | tr a-z A-Z'
FILES = {"a": b"alpha\n", "b_slow": b"slow\n", "c": b"gamma\n", "d": b"delta\n"}
FAULT = "injected fault: the engine cannot create containers"
LABEL = "test-local-faults"


class Seen:
    """An event sink that keeps every result it is given, per path."""

    def __init__(self) -> None:
        self.listed_files = 0
        self.results: dict[str, list[FileResult]] = defaultdict(list)

    def listed(self, tree: InputTree) -> None:
        self.listed_files = len(tree.files)

    def file(self, result: FileResult) -> None:
        self.results[result.path].append(result)

    def once(self) -> dict[str, FileResult]:
        """The one result of each path (fails if a path was reported twice or not at all)."""
        assert {p: len(r) for p, r in self.results.items()} == dict.fromkeys(FILES, 1)
        return {path: results[0] for path, results in self.results.items()}


@pytest.fixture(scope="module")
def spec(kubo: KuboProcess, image_id: str, tmp_path_factory: pytest.TempPathFactory) -> JobSpec:
    """One shard (one slot) over a, b_slow, c, d; 2 s per file."""
    root = tmp_path_factory.mktemp("faults") / "in"
    root.mkdir()
    for name, data in FILES.items():
        (root / name).write_bytes(data)

    async def add() -> str:
        async with KuboClient(kubo.api_url) as ipfs:
            return (await ipfs.add_paths([root]))[-1].cid

    plain = JobSpec(COMMAND, run(add), image_digest=image_id, limits=Limits(timeout=2))
    return replace(plain, target=replace(plain.target, slots=1))


def run_with(
    kubo: KuboProcess, engine: docker.DockerClient, spec: JobSpec, events: Seen
) -> JobResult:
    async def go() -> JobResult:
        async with KuboClient(kubo.api_url) as ipfs:
            execution = LocalExecution(engine, {JOB_LABEL: LABEL})
            return await run_job(spec, ipfs, execution, events)

    return run(go, deadline=120)


def leftovers(engine: docker.DockerClient) -> list[str]:
    found = engine.containers.list(all=True, filters={"label": f"{JOB_LABEL}={LABEL}"})
    return [str(c.name) for c in found]


def test_a_failure_mid_shard_keeps_finished_files_and_reruns_the_rest(
    kubo: KuboProcess, engine: docker.DockerClient, spec: JobSpec
) -> None:
    """The files finished before the fault keep their results (a ran once, b_slow stays timed
    out); only c and d run again, and the output CID is that of an undisturbed run."""
    undisturbed = run_with(kubo, engine, spec, Seen())
    assert [r.path for r in undisturbed.failed] == ["b_slow"]

    seen = Seen()
    with FaultyDocker(fail=lambda n: n == 2, message=FAULT) as proxy:
        faulty = docker.DockerClient(base_url=proxy.url, timeout=60)
        result = run_with(kubo, faulty, spec, seen)
        faulty.close()
    assert (proxy.creates, proxy.failed) == (3, 1)  # a+b_slow, the fault, then c+d

    once = seen.once()
    assert once["a"].ok and once["a"].exit_code == 0
    assert once["b_slow"].outcome is Outcome.TIMED_OUT
    assert once["c"].ok and once["d"].ok
    assert sorted(r.path for r in result.files) == sorted(FILES)
    assert [r.path for r in result.failed] == ["b_slow"]
    assert result.output_cid == undisturbed.output_cid
    assert ipfs_cli(kubo, "cat", f"/ipfs/{result.output_cid}/c") == b"GAMMA\n"
    assert leftovers(engine) == []


def test_a_fault_that_repeats_loses_the_unfinished_files_and_the_job_still_ends(
    kubo: KuboProcess, engine: docker.DockerClient, spec: JobSpec
) -> None:
    """When every create after the first fails, c and d end as infrastructure failures (after
    MAX_TRIES) with a message that says so; a is still kept ok, and a partial result comes back."""
    seen = Seen()
    with FaultyDocker(fail=lambda n: n >= 2, message=FAULT) as proxy:
        faulty = docker.DockerClient(base_url=proxy.url, timeout=60)
        result = run_with(kubo, faulty, spec, seen)
        faulty.close()
    assert (proxy.creates, proxy.failed) == (3, 2)  # the first try, then one rerun of c+d

    once = seen.once()
    assert once["a"].ok
    assert once["b_slow"].outcome is Outcome.TIMED_OUT
    for path in ("c", "d"):
        assert once[path].outcome is Outcome.INFRASTRUCTURE and not once[path].ran
        error = once[path].error or ""
        assert error.startswith("infrastructure failed") and FAULT in error, error
    assert sorted(r.path for r in result.failed) == ["b_slow", "c", "d"]
    assert ipfs_cli(kubo, "cat", f"/ipfs/{result.output_cid}/a") == b"ALPHA\n"
    assert leftovers(engine) == []


def test_the_proxy_passes_everything_else_through(engine: docker.DockerClient) -> None:
    """Without a fault the proxy is invisible: the engine answers through it."""
    with FaultyDocker(fail=lambda n: False) as proxy:
        client = docker.DockerClient(base_url=proxy.url, timeout=60)
        assert client.version()["ApiVersion"] == engine.version()["ApiVersion"]
        client.close()
    assert proxy.creates == 0


def test_an_engine_that_cannot_create_a_container_is_not_blamed_on_the_image(
    engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    """A 500 from the engine on create says what the engine said, and hints at the engine."""
    with FaultyDocker(fail=lambda n: True, message="no space left on device", delay=0) as proxy:
        faulty = docker.DockerClient(base_url=proxy.url, timeout=60)
        container = ShardContainer(faulty, image_id, Limits(), tmp_path, {JOB_LABEL: LABEL})
        with pytest.raises(InfrastructureError) as caught:
            run(container.start, "c1")
        faulty.close()
    assert "no space left on device" in caught.value.message
    assert "/bin/sh" not in str(caught.value), str(caught.value)
