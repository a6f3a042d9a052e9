"""Warm containers against real Docker and kubo: a long-lived node's next shard takes a container
started before it, runs its own job in it, and nothing of a pool outlives it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
import pytest

from codsh.core.model import FileResult
from codsh.core.spec import Limits
from codsh.executor import warm
from codsh.executor.container import JOB_LABEL, JOB_NAME, job_containers, remove_job
from codsh.executor.warm import POOL_LABEL, Ready, Recipe, WarmPool
from codsh.kubo_daemon import KuboProcess
from tests.executor.test_shard import cat, run_shard


@pytest.fixture
def pool(engine: docker.DockerClient) -> Iterator[WarmPool]:
    made = WarmPool(engine, f"test-{uuid.uuid4().hex[:8]}", depth=1)
    try:
        yield made
    finally:
        made.close()


def pooled(engine: docker.DockerClient, owner: str) -> list[str]:
    """The IDs of the containers pool `owner` started (running or not)."""
    filters = {"label": f"{POOL_LABEL}={owner}"}
    return [entry["Id"] for entry in engine.api.containers(all=True, filters=filters)]


def job_of(entry: Mapping[str, Any]) -> str | None:
    """The job a listed shard container serves: its label, or the name a warm one took
    (ShardContainer.claim)."""
    labelled: str | None = (entry.get("Labels") or {}).get(JOB_LABEL)
    names = [name.lstrip("/") for name in entry.get("Names") or []]
    claimed = [
        name[len(JOB_NAME) :].rsplit("-", 1)[0] for name in names if name.startswith(JOB_NAME)
    ]
    return labelled or (claimed[0] if claimed else None)


def until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def shard_with(
    kubo: KuboProcess,
    engine: docker.DockerClient,
    image_id: str,
    scratch: Path,
    pool: WarmPool,
    contents: list[bytes],
    command: str = "grep rain",
) -> list[FileResult]:
    return run_shard(kubo, engine, image_id, command, contents, scratch, pool)


def test_the_next_shard_takes_the_started_container_and_runs_only_its_own_job(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path, pool: WarmPool
) -> None:
    first = shard_with(kubo, engine, image_id, tmp_path, pool, [b"rain 1\ndry\n", b"dry\n"])
    assert [r.exit_code for r in first] == [0, 1]
    until(lambda: pool.waiting() == 1)  # made for the next shard after the first took none
    (started,) = pooled(engine, pool.owner)
    second = shard_with(kubo, engine, image_id, tmp_path, pool, [b"rain 2\n"], "sed s/rain/sun/")
    assert [cat(kubo, r.output_cid) for r in second] == [b"sun 2\n"]
    until(lambda: pool.waiting() == 1)
    until(lambda: started not in pooled(engine, pool.owner))  # used once, then removed
    assert len(pooled(engine, pool.owner)) == 1  # and replaced


def test_a_used_container_is_removed_after_its_shard_answers_and_before_close_returns(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    pool = WarmPool(engine, f"test-{uuid.uuid4().hex[:8]}", depth=1)
    try:
        shard_with(kubo, engine, image_id, tmp_path, pool, [b"rain\n"])  # started its own
        until(lambda: pool.waiting() == 1)
        assert len(pooled(engine, pool.owner)) == 1
        (second,) = shard_with(kubo, engine, image_id, tmp_path, pool, [b"rain 2\n"])
        assert second.exit_code == 0
    finally:
        pool.close()  # waits for the removals the shards left to its threads
    assert pooled(engine, pool.owner) == []
    assert list(tmp_path.iterdir()) == []  # nor their scratch folders


def test_a_different_recipe_starts_its_own_and_a_stale_one_is_replaced(
    engine: docker.DockerClient,
    image_id: str,
    tmp_path: Path,
    pool: WarmPool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recipe = Recipe.of(image_id, Limits(), tmp_path)
    assert pool.take(recipe) is None
    until(lambda: pool.waiting() == 1)
    assert pool.take(Recipe.of(image_id, Limits(memory=64 * 1024**2), tmp_path)) is None
    monkeypatch.setattr(warm, "MAX_AGE", 0.0)
    (stale,) = pooled(engine, pool.owner)
    assert pool.take(recipe) is None  # too old to trust: removed, not handed out
    assert stale not in pooled(engine, pool.owner)


def test_close_removes_every_ready_container_and_its_scratch(
    engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    pool = WarmPool(engine, f"test-{uuid.uuid4().hex[:8]}", depth=2)
    assert pool.take(Recipe.of(image_id, Limits(), tmp_path)) is None
    until(lambda: pool.waiting() == 2)
    pool.close()
    assert pooled(engine, pool.owner) == []
    assert list(tmp_path.iterdir()) == []
    assert pool.take(Recipe.of(image_id, Limits(), tmp_path)) is None  # and makes no more
    assert pool.waiting() == 0


def test_a_new_pool_removes_what_a_killed_one_left(
    engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    owner = f"test-{uuid.uuid4().hex[:8]}"
    killed = WarmPool(engine, owner)
    killed.take(Recipe.of(image_id, Limits(), tmp_path))
    until(lambda: killed.waiting() == 1)
    assert len(pooled(engine, owner)) == 1
    restarted = WarmPool(engine, owner)
    assert pooled(engine, owner) == []
    restarted.close()
    killed.close()


def test_a_ready_runner_no_job_comes_to_exits_by_itself(
    engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    mark = {"org.codsh.test": uuid.uuid4().hex}
    ready = Ready(engine, Recipe.of(image_id, Limits(), tmp_path, mark), idle=1)
    try:
        (container,) = engine.containers.list(
            all=True, filters={"label": "org.codsh.test=" + mark["org.codsh.test"]}
        )
        until(lambda: (container.reload(), container.status)[1] == "exited", 20)
        assert container.attrs["State"]["ExitCode"] == 0
    finally:
        ready.discard()
    assert not ready.scratch.exists()


def test_a_taken_container_is_found_and_removed_by_its_job(
    engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    job = f"job-{uuid.uuid4().hex[:6]}.1"
    ready = Ready(engine, Recipe.of(image_id, Limits(), tmp_path))
    try:
        ready.container.claim(job)
        (entry,) = job_containers(engine, job)
        assert job_of(entry) == job
        assert job_containers(engine, job.removesuffix(".1")) == []  # the name is matched whole
        assert job_containers(engine, job + "1") == []
        assert remove_job(engine, job) == 1
        assert job_containers(engine, job) == []
    finally:
        ready.discard()


def test_a_ready_container_that_died_costs_the_shard_nothing(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path, pool: WarmPool
) -> None:
    shard_with(kubo, engine, image_id, tmp_path, pool, [b"rain 0\n"])
    until(lambda: pool.waiting() == 1)
    (ready,) = pooled(engine, pool.owner)
    engine.api.kill(ready)  # e.g. the engine restarted, or someone ran `docker kill`
    results = shard_with(kubo, engine, image_id, tmp_path, pool, [b"rain 1\n", b"rain 2\n"])
    assert [cat(kubo, r.output_cid) for r in results] == [b"rain 1\n", b"rain 2\n"]
    assert all(r.exit_code == 0 for r in results)
