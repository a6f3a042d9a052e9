"""The bill and the price limit through the orchestrator: `job describe` with CODSH_API shows the
bill `job describe` shows on the orchestrator's own machine, and `--max-price` travels in the spec
(target.max_price): the orchestrator quotes first, refusing a job whose quote is over it, and
stops the run when its bill reaches it, keeping what finished."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.api.conftest import Orchestrator
from tests.api.test_cli_api import user_env
from tests.commands.cli import codsh, write_tree
from tests.commands.test_quote_cli import SPIN, tree


def test_the_bill_and_a_price_limit_through_the_api(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    env = user_env(orchestrator, tmp_path)
    added = codsh("add", str(write_tree(tmp_path / "data", tree(40, spin=2))), env=env)
    assert added.code == 0, added.err
    ran = codsh("run", "-e", SPIN, "-c", added.cid, "--max-price", "0.00002", env=env, timeout=300)
    assert ran.code == 1, ran.err
    assert "stopped at the price limit" in ran.err and "job resume" in ran.err
    job_id = re.findall(r"job ([0-9a-f]{12}) on", ran.err)[-1]  # the summary's (not the sample)
    remote = json.loads(codsh("job", "describe", job_id, "--json", env=env).out)
    here = json.loads(codsh("job", "describe", job_id, "--json", env=orchestrator.env).out)
    assert remote["spec"]["target"]["max_price"] == 0.00002
    assert remote["state"] == "partial" and "price limit" in remote["error"]
    assert remote["bill"] == here["bill"]  # the same bill, through the API or on its machine
    assert remote["bill"]["nodes"]["local"]["files"] <= remote["files"] - 12 < 28  # the sample
    shown = codsh("job", "describe", job_id, env=env).out.decode()
    assert "bill:" in shown


def test_a_quote_over_the_limit_refuses_the_job_through_the_api(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    env = user_env(orchestrator, tmp_path)
    added = codsh("add", str(write_tree(tmp_path / "data", tree())), env=env)
    ran = codsh("run", "-e", "wc -c", "-c", added.cid, "--max-price", "0", env=env, timeout=300)
    assert ran.code == 2 and ran.out == b"", ran.err
    assert "the quote for this job is" in ran.err and "more than --max-price 0" in ran.err
