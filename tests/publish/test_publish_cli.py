"""--publish on `codsh run` / `codsh pipe`, and `codsh publish CID --to ...`, end to end: the real
CLI, kubo, Docker and versitygw."""

from __future__ import annotations

import json
from pathlib import Path

from codsh.core.memo import memo_key
from codsh.core.spec import JobSpec, RunTarget
from tests.commands.cli import Tree, add, assert_usage_error, codsh, local_tree
from tests.publish.conftest import S3Server
from tests.publish.test_s3 import objects

WEATHER: Tree = {"a.csv": b"lisbon,rain\nporto,sun\n", "sub/b.csv": b"faro,rain\n", "c.csv": b"x\n"}


def test_run_publishes_its_output_tree_to_a_directory_and_to_s3(
    env: dict[str, str], s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    cid = add(env, tmp_path / "in", WEATHER)
    out = tmp_path / "results"
    result = codsh(
        "run", "-e", "grep rain", "-c", cid, "--json",
        "--publish", f"dir:{out}", "--publish", f"s3://{bucket}/nightly", "--publish", "ipfs",
        env=env,
    )  # fmt: skip
    assert result.code == 0, result.err
    record = json.loads(result.out)
    assert [p["target"] for p in record["published"]] == [f"dir:{out}", f"s3://{bucket}/nightly/"]
    expected = {"a.csv": b"lisbon,rain\n", "sub": None, "sub/b.csv": b"faro,rain\n", "c.csv": b""}
    assert local_tree(out) == expected
    assert objects(s3, bucket) == {f"nightly/{k}": v for k, v in expected.items() if v is not None}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporaries


def test_a_concat_output_gets_a_stable_name_and_a_rerun_needs_overwrite(
    env: dict[str, str], s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    cid = add(env, tmp_path / "in", WEATHER)
    out = tmp_path / "report"
    args = ("run", "-e", "grep -c rain", "-c", cid, "--concat", "--publish", f"dir:{out}")
    first = codsh(*args, "--publish", f"s3://{bucket}/r", env=env)
    assert first.code == 0, first.err
    assert (out / "output").read_bytes() == b"1\n0\n1\n"
    assert "published" in first.err and "1 of 1 files uploaded" in first.err
    again = codsh(*args, env=env)  # the directory is there now: refused before anything runs
    assert_usage_error(again, "is not empty", "--overwrite")
    assert "files" not in again.err  # no job summary: it did not run
    replaced = codsh(*args, "--overwrite", env=env)
    assert replaced.code == 0, replaced.err
    assert (out / "output").read_bytes() == b"1\n0\n1\n"
    assert objects(s3, bucket) == {"r/output": b"1\n0\n1\n"}


def test_pipe_publishes_only_its_final_output(env: dict[str, str], tmp_path: Path) -> None:
    cid = add(env, tmp_path / "in", WEATHER)
    out = tmp_path / "piped"
    result = codsh(
        "pipe", "-c", cid, "grep rain", "--concat", "wc -l", "--publish", f"dir:{out}", env=env
    )
    assert result.code == 0, result.err
    assert local_tree(out) == {"output": b"2\n"}


def test_publish_any_cid_and_bad_targets(
    env: dict[str, str], s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    cid = add(env, tmp_path / "in", WEATHER)
    result = codsh(
        "publish",
        cid,
        "--to",
        f"s3://{bucket}/copy",
        "--to",
        f"dir:{tmp_path / 'd'}",
        "--json",
        env=env,
    )
    assert result.code == 0, result.err
    assert [r["uploaded"] for r in json.loads(result.out)] == [3, 3]
    assert set(objects(s3, bucket)) == {"copy/a.csv", "copy/sub/b.csv", "copy/c.csv"}
    one = codsh("publish", f"{cid}/sub/b.csv", "--to", f"dir:{tmp_path / 'one'}", env=env)
    assert one.code == 0, one.err
    assert local_tree(tmp_path / "one") == {"b.csv": b"faro,rain\n"}
    assert_usage_error(codsh("publish", cid, "--to", "ftp://x", env=env), "not a publish target")
    assert_usage_error(
        codsh("run", "-e", "cat", "-c", cid, "--publish", "s3://", env=env), "names no bucket"
    )
    missing = codsh("run", "-e", "cat", "-c", cid, "--publish", "s3://no-such-bucket/x", env=env)
    assert_usage_error(missing, "does not exist", "nothing was uploaded")
    wrong = {**env, "AWS_SECRET_ACCESS_KEY": "wrong"}
    refused = codsh("publish", cid, "--to", f"s3://{bucket}/w", env=wrong)
    assert_usage_error(refused, "refused the credentials", "AWS_SECRET_ACCESS_KEY")


def test_publishing_does_not_change_the_memo_key() -> None:
    plain = JobSpec("grep rain", "bafyinput")
    published = JobSpec(
        "grep rain", "bafyinput", target=RunTarget(publish=("s3://b/p",), overwrite=True)
    )
    assert memo_key(plain, "bafyfile") == memo_key(published, "bafyfile")
    assert JobSpec.from_json(published.canonical_json()) == published
