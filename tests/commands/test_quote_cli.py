"""`codsh job quote` and `job submit --max-price` end to end on one machine: the real CLI, real
kubo and Docker. One machine prices its runs at the default price list (core/bill.py).

Each test has a job store of its own (its CODSH_HOME), so the memo of one never serves another.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.commands.cli import add, codsh

# Files whose content says "spin" burn a few seconds of CPU; the others are nearly free. They are
# the largest files, so the quote's sample (each size band's middle file) is never one of them.
SPIN = "if grep -q spin; then head -c 200000000 /dev/zero | sha256sum; fi; wc -c"


def tree(count: int = 40, spin: int = 0) -> dict[str, bytes | None]:
    """`count` text files of varied sizes (all different); the last `spin` are the costly kind."""
    files: dict[str, bytes | None] = {}
    for i in range(count):
        body = f"line {i}\n".encode() * (1 + (i % 8) * 40)
        if i >= count - spin:
            body = b"spin\n" + b"x" * (5000 + i)
        files[f"logs/f{i:02}.txt"] = body
    return files


def run_json(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any], str]:
    result = codsh(*args, "--json", env=env)
    lines = result.lines
    assert len(lines) == 1, (result.out, result.err)
    return result.code, json.loads(lines[0]), result.err


@pytest.fixture
def own(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**env, "CODSH_HOME": str(tmp_path / "home")}


def test_a_quote_runs_a_sample_the_job_then_does_not_pay_for(
    own: dict[str, str], tmp_path: Path
) -> None:
    cid = add(own, tmp_path / "data", tree())
    code, quote, _ = run_json(own, "job", "quote", "-e", "wc -c", "-c", cid)
    assert code == 0
    assert quote["files"] == 40 and quote["sampled"] == 12
    assert 0 < quote["low"] <= quote["estimate"] <= quote["high"]
    assert quote["sample_cost"] > 0 and quote["bytes"] > quote["sampled_bytes"] > 0
    described = codsh("job", "describe", quote["sample_job"], "--json", env=own)
    assert json.loads(described.out)["files"] == 12  # the sample is a recorded job of its own
    code, job, _ = run_json(own, "job", "submit", "-e", "wc -c", "-c", cid)
    assert code == 0 and job["reused"] == 12  # the sample's results came from the memo
    record = json.loads(codsh("job", "describe", job["job"], "--json", env=own).out)
    assert record["bill"]["nodes"]["local"]["files"] == 28  # billed: the unsampled files only


def test_quote_refuses_bad_input(own: dict[str, str], tmp_path: Path) -> None:
    cid = add(own, tmp_path / "data", tree())
    for args, says in (
        (["--replicas", "0"], "--replicas"),
        (["--replicas", "2"], "this machine is one"),
        (["-c", "bafynotacid"], "not a valid CID"),
    ):
        result = codsh("job", "quote", "-e", "wc -c", "-c", cid, *args, env=own)
        assert result.code == 2 and says in result.err, result.err


@pytest.mark.parametrize("price", ["-1", "abc", "nan"])
def test_a_negative_or_non_numeric_max_price_is_a_usage_error(
    own: dict[str, str], price: str
) -> None:
    result = codsh("job", "submit", "-e", "wc -c", "-c", "bafkqaaa", "--max-price", price, env=own)
    assert result.code == 2 and "--max-price" in result.err, result.err


def test_max_price_refuses_to_start_when_the_quote_is_over(
    own: dict[str, str], tmp_path: Path
) -> None:
    cid = add(own, tmp_path / "data", tree())
    result = codsh("job", "submit", "-e", "wc -c", "-c", cid, "--max-price", "0", env=own)
    assert result.code == 2 and result.out == b""
    assert "more than --max-price 0" in result.err and "the quote for this job is" in result.err
    listed = codsh("job", "list", "--json", env=own)
    assert len(listed.lines) == 1  # the quote's sample only: the job never started


def test_max_price_stops_the_run_keeping_what_finished_and_resume_goes_on(
    own: dict[str, str], tmp_path: Path
) -> None:
    cid = add(own, tmp_path / "data", tree(40, spin=2))
    # over the quote (~1e-6 a file at the default list; the sample has no spinning file), under
    # one spin's cost (~2.5 s of CPU: 5e-5)
    limit = "0.00002"
    code, job, err = run_json(own, "job", "submit", "-e", SPIN, "-c", cid, "--max-price", limit)
    assert code == 1, err
    assert "stopped at the price limit" in job["stopped"]
    assert 12 <= job["files"] < 40 and job["failed"] == 0  # what finished, kept and merged
    record = json.loads(codsh("job", "describe", job["job"], "--json", env=own).out)
    assert record["state"] == "partial" and "price limit" in record["error"]
    for _ in range(3):  # each resume has the same limit for what it runs: it goes on
        resumed = codsh("job", "resume", job["job"], "--json", env=own, timeout=300)
        if resumed.code == 0:
            break
        assert resumed.code == 1 and "stopped at the price limit" in resumed.out.decode(), (
            resumed.err
        )
    assert resumed.code == 0, resumed.err
    full = codsh("job", "submit", "-e", SPIN, "-c", cid, "--no-memo", env=own, timeout=300)
    assert json.loads(resumed.out)["output"] == full.cid  # the CID an undisturbed run gives


def test_a_spec_file_carries_max_price(own: dict[str, str], tmp_path: Path) -> None:
    cid = add(own, tmp_path / "data", tree())
    spec = tmp_path / "job.yaml"
    spec.write_text(f"command: wc -c\ninput: {cid}\nmax_price: 0\n")
    refused = codsh("job", "run", str(spec), env=own)
    assert refused.code == 2 and "more than --max-price 0" in refused.err, refused.err
    spec.write_text(f"command: wc -c\ninput: {cid}\nmax_price: -1\n")
    bad = codsh("job", "run", str(spec), env=own)
    assert bad.code == 2 and "job.yaml, line 3: max_price" in bad.err, bad.err
    line = codsh(
        "job", "submit", "-e", "wc -c", "-c", cid, "--max-price", "0.5", "--dry-run", env=own
    )
    assert "max_price: 0.5" in line.out.decode()
