"""Replicated runs and the vote on a real 3-node devstack (issue 12): a node that lies about its
outputs is outvoted on every file it lies about, the output equals an honest run's, and a command
that is not deterministic is disputed instead of winning a false majority."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cloudpickle
import pytest

from codsh import devstack
from codsh.cluster.execution import connect
from codsh.core.model import Outcome
from codsh.core.spec import JobSpec
from codsh.core.unixfs import raw_cid
from codsh.core.vote import BROKEN_COPY, tally
from codsh.errors import InputError
from codsh.jobs.store import JobStore
from tests.cluster import copier, liar
from tests.cluster.test_cluster import cluster_run, local_run
from tests.conftest import run


@pytest.fixture(scope="module")
def logs(stack: list[devstack.NodeStatus], tmp_path_factory: pytest.TempPathFactory) -> str:
    """Nine small logs spread over the three nodes; the node that lies does so on lie-*."""
    root = tmp_path_factory.mktemp("replicated")
    for index in range(9):
        name = f"lie-{index}.log" if index % 3 == 0 else f"ok-{index}.log"
        (root / name).write_text(f"line {index} rain\nline {index} sun\n")
    return run(devstack.add_spread, root, 1, [n.api_url for n in stack if n.api_url])


def lying_node(node: str) -> liar.Liar:
    cloudpickle.register_pickle_by_value(liar)
    return liar.Liar(node, "lie-", raw_cid(b"a lie"))


def test_a_lying_node_is_outvoted_on_every_file_it_lies_about(
    stack: list[devstack.NodeStatus], logs: str, image_id: str, engine: object
) -> None:
    info = devstack.scheduler_info()
    assert info is not None
    client = connect(info["address"], devstack.tls_dir())
    try:
        client.register_plugin(lying_node("node1"), name=liar.PLUGIN_NAME)
        spec = JobSpec("grep rain", logs, image_digest=image_id, replicas=3)
        voted = cluster_run(stack, spec)
        lied = cluster_run(stack, replace(spec, replicas=1), select={"devstack": "node1"})
    finally:
        client.unregister_worker_plugin(liar.PLUGIN_NAME)
        client.close()
    honest = local_run(stack, replace(spec, replicas=1), engine)  # type: ignore[arg-type]
    assert honest.ok and voted.ok, [r.error for r in voted.failed]
    assert voted.output_cid == honest.output_cid  # the lie is not in the output
    assert lied.output_cid != honest.output_cid  # without replicas the lie gets through
    by_path = {r.path: r for r in voted.files}
    for path, result in by_path.items():
        assert result.vote is not None and result.vote["replicas"] == 3
        if path.startswith("lie-"):
            assert result.vote["outvoted"] == ["node1"], path
            assert result.vote["agreed"] == ["node0", "node2"]
        else:
            assert result.vote["agreed"] == ["node0", "node1", "node2"], path
    counts = tally((str(r.outcome), r.vote or {}) for r in voted.files)
    assert counts["node1"] == {"run": 9, "agreed": 6, "outvoted": 3, "disputed": 0}
    assert counts["node0"]["outvoted"] == counts["node2"]["outvoted"] == 0
    assert voted.placement is not None and sum(voted.placement.files_per_node.values()) == 27


def test_a_node_that_copies_another_answer_is_caught_by_the_commitments(
    stack: list[devstack.NodeStatus], logs: str, image_id: str, engine: object
) -> None:
    """node2 runs nothing and copies what the others said, read from the scheduler's event log:
    it sees only their commitments, which it cannot open, so it is outvoted on every file."""
    info = devstack.scheduler_info()
    assert info is not None
    client = connect(info["address"], devstack.tls_dir())
    try:
        cloudpickle.register_pickle_by_value(copier)
        client.register_plugin(copier.Copier("node2"), name=copier.PLUGIN_NAME)
        voted = cluster_run(stack, JobSpec("grep rain", logs, image_digest=image_id, replicas=3))
    finally:
        client.unregister_worker_plugin(copier.PLUGIN_NAME)
        client.close()
    honest = local_run(stack, JobSpec("grep rain", logs, image_digest=image_id), engine)  # type: ignore[arg-type]
    assert voted.ok and voted.output_cid == honest.output_cid, [r.error for r in voted.failed]
    for result in voted.files:
        assert result.vote is not None and result.vote["agreed"] == ["node0", "node1"]
        assert result.vote["outvoted"] == ["node2"]
        assert result.vote["broken"] == [{"node": "node2", "why": BROKEN_COPY}]
    counts = tally((str(r.outcome), r.vote or {}) for r in voted.files)
    assert counts["node2"] == {"run": 9, "agreed": 0, "outvoted": 9, "disputed": 0}


def test_sampled_verification_checks_a_fraction_and_every_file_of_a_suspect(
    stack: list[devstack.NodeStatus], logs: str, image_id: str, engine: object
) -> None:
    """--verify sample:0.2: 2 of the 9 files run on 3 nodes and are voted on, the rest once.
    With node1 a suspect (outvoted before), every file it runs first is checked too, so its
    lies are caught and the output is an honest run's."""
    spec = JobSpec("grep rain", logs, image_digest=image_id, replicas=3, verify=0.2)
    sampled = cluster_run(stack, spec)
    assert sampled.ok, [r.error for r in sampled.failed]
    checked = [r for r in sampled.files if r.vote is not None]
    assert len(checked) == 2 and all(r.vote and r.vote["replicas"] == 3 for r in checked)
    assert sampled.placement is not None
    assert sum(sampled.placement.files_per_node.values()) == 9 + 2 * 2
    honest = local_run(stack, replace(spec, replicas=1, verify=0.0), engine)  # type: ignore[arg-type]
    assert sampled.output_cid == honest.output_cid
    info = devstack.scheduler_info()
    assert info is not None
    client = connect(info["address"], devstack.tls_dir())
    try:
        client.register_plugin(lying_node("node1"), name=liar.PLUGIN_NAME)
        caught = cluster_run(stack, spec, suspects=frozenset({"node1"}))
    finally:
        client.unregister_worker_plugin(liar.PLUGIN_NAME)
        client.close()
    rescheduled = caught.placement.rescheduled if caught.placement else None
    every = "\n".join(f"{r.path} {r.node} {r.output_cid} {r.vote}" for r in caught.files)
    said = f"rescheduled: {rescheduled}\n{every}"
    assert caught.output_cid == honest.output_cid, said  # every lie was checked, and outvoted
    for result in caught.files:
        if result.vote is None:
            assert result.node != "node1", result.path  # run once: not by the suspect
        elif result.path.startswith("lie-") and "node1" in str(result.vote):
            assert result.vote["outvoted"] == ["node1"], result.path


def test_a_command_that_is_not_deterministic_is_disputed(
    stack: list[devstack.NodeStatus], logs: str, image_id: str
) -> None:
    spec = JobSpec("head -c 16 /dev/urandom | od -An -tx1", logs, image_digest=image_id)
    result = cluster_run(stack, replace(spec, replicas=3))
    assert not result.ok and len(result.failed) == 9
    for failed in result.failed:
        assert failed.outcome is Outcome.DISPUTED and failed.output_cid is None
        assert failed.vote is not None and len(failed.vote["candidates"]) == 3
        assert "no strict majority" in (failed.error or "")


def test_more_replicas_than_nodes_is_refused_naming_the_nodes(
    stack: list[devstack.NodeStatus], logs: str, image_id: str
) -> None:
    with pytest.raises(InputError, match="--replicas 4 needs 4 distinct nodes; 3 of the 3"):
        cluster_run(stack, JobSpec("cat", logs, image_digest=image_id, replicas=4))


def test_a_single_replicas_result_does_not_satisfy_a_replicated_job(
    stack: list[devstack.NodeStatus], logs: str, image_id: str, tmp_path: Path
) -> None:
    with JobStore(tmp_path / "jobs.sqlite") as store:
        once = JobSpec("wc -l", logs, image_digest=image_id)
        first = cluster_run(stack, once, memo=store)
        store.save_results(store.create(once, "cluster").id, first.files, memo_of=once)
        voted = cluster_run(stack, replace(once, replicas=3), memo=store)
    assert voted.ok and voted.reused == 0
    assert voted.output_cid == first.output_cid
    assert all(r.vote is not None for r in voted.files)
