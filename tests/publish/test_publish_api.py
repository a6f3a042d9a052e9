"""Publishing through the orchestrator (`codsh serve`, which publishes when it runs the job) and
the SDK's `publish=[...]`, in both SDK modes; dir: targets are refused through the API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import codsh
from codsh.errors import CodshError
from codsh.kubo_daemon import KuboProcess
from tests.api.conftest import Orchestrator, orchestrator  # noqa: F401  (the fixture)
from tests.commands.cli import local_tree, write_tree
from tests.publish.conftest import S3Server
from tests.publish.test_s3 import objects


@pytest.fixture(scope="module")
def aws(s3: S3Server) -> Iterator[None]:
    """The S3 server's variables in os.environ before the orchestrator starts (it inherits them)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in s3.env().items():
            patch.setenv(key, value)
        yield


@pytest.fixture
def remote(aws: None, orchestrator: Orchestrator) -> codsh.Client:  # noqa: F811
    return codsh.connect(orchestrator.url, orchestrator.tokens["alice"])


def test_the_orchestrator_publishes_a_job_to_s3_and_refuses_dir(
    remote: codsh.Client, s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    cid = remote.add(write_tree(tmp_path / "in", {"a": b"rain\nsun\n", "b": b"rain\n"}))
    job = remote.submit("grep rain", cid, publish=[f"s3://{bucket}/api"])
    output = job.result(timeout=120)
    assert objects(s3, bucket) == {"api/a": b"rain\n", "api/b": b"rain\n"}
    again = remote.submit("grep rain", cid, concat=True, publish=[f"s3://{bucket}/cat"])
    again.result(timeout=120)
    assert objects(s3, bucket, "cat/") == {"cat/output": b"rain\nrain\n"}
    with pytest.raises(CodshError, match="orchestrator's machine"):
        remote.submit("grep rain", cid, publish=[f"dir:{tmp_path / 'x'}"])
    with pytest.raises(CodshError, match="not a publish target"):
        remote.submit("grep rain", cid, publish=["ftp://x"])
    assert output


def test_in_process_the_sdk_publishes_to_a_directory(
    kubo: KuboProcess, image_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CODSH_API", raising=False)
    local = codsh.connect(ipfs=kubo.api_url)
    cid = local.add(write_tree(tmp_path / "in", {"a": b"rain\nsun\n", "s/b": b"rain\n"}))
    local.submit("grep rain", cid, publish=[f"dir:{tmp_path / 'out'}"]).result(timeout=120)
    assert local_tree(tmp_path / "out") == {"a": b"rain\n", "s": None, "s/b": b"rain\n"}
    assert os.environ.get("CODSH_API") is None
