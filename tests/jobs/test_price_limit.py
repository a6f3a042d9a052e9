"""The price limit in the job's life itself (jobs/run.py + jobs/limit.py), without a quote first:
real kubo and Docker, one node (its runs priced at the default list)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import docker

from codsh.core.spec import JobSpec, RunTarget
from codsh.kubo_daemon import KuboProcess
from tests.commands.test_quote_cli import SPIN
from tests.jobs.test_run import add_tree, submit

LIMIT = 0.00002  # under one spinning file's cost (a few seconds of CPU: ~5e-5)


def spec(cid: str, image_id: str) -> JobSpec:
    """One container at a time: the files run one after the other."""
    return JobSpec(SPIN, cid, image_digest=image_id, target=RunTarget(max_price=LIMIT, slots=1))


def test_a_run_stops_once_its_bill_reaches_the_limit(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    for index in range(3):
        (tmp_path / f"{index}.log").write_bytes(f"spin {index}\n".encode())
    job = submit(kubo, engine, spec(add_tree(kubo, tmp_path), image_id))
    assert job.stopped.startswith("stopped at the price limit") and "files not run" in job.stopped
    assert len(job.files) == 1 and job.files[0].ok and not job.ok  # one shard: one file, then stop


def test_a_limit_reached_by_the_last_file_is_a_complete_job(
    kubo: KuboProcess, engine: docker.DockerClient, image_id: str, tmp_path: Path
) -> None:
    (tmp_path / "only.log").write_bytes(b"spin\n")
    job = submit(kubo, engine, spec(add_tree(kubo, tmp_path), image_id))
    assert job.ok and job.stopped == "" and len(job.files) == 1
    unlimited = submit(
        kubo, engine, replace(spec(add_tree(kubo, tmp_path), image_id), target=RunTarget())
    )
    assert unlimited.output_cid == job.output_cid
