"""systemd units for a cluster of real machines (issue 13): `--unit` prints a unit that runs
that very command, deploy/ holds the README's examples, and `systemd-analyze verify` accepts
them all (where it is installed: Debian's systemd package has it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codsh.commands.units import examples, kubo_unit, quote
from codsh.config import kubo_binary
from tests.commands.cli import CODSH, codsh

ROOT = Path(__file__).resolve().parents[2]
ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def verify(folder: Path, *units: str) -> None:
    """systemd-analyze accepts the units with no word said (unknown keys are only warnings)."""
    assert ANALYZE is not None
    paths = [str(folder / name) for name in units]
    done = subprocess.run([ANALYZE, "verify", *paths], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_deploy_holds_what_the_generator_makes() -> None:
    for name, text in examples().items():
        assert (ROOT / "deploy" / name).read_text() == text, "run scripts/deploy_units.py"
    check = [sys.executable, str(ROOT / "scripts" / "deploy_units.py"), "--check"]
    assert subprocess.run(check, capture_output=True, timeout=60).returncode == 0


def test_words_are_quoted_for_exec_start() -> None:
    assert quote("tls://10.0.0.5:8786") == "tls://10.0.0.5:8786"
    assert quote("site=a b") == '"site=a b"'
    assert quote("50%") == "50%%" and quote("$HOME") == "$$HOME"
    assert quote('say "hi"\\') == '"say \\"hi\\"\\\\"'


def test_node_join_unit_runs_that_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CODSH_TLS", "DOCKER_HOST")}
    env["CODSH_HOME"] = str(tmp_path)
    join = ["node", "join", "tls://10.0.0.5:8786", "--ipfs", "http://127.0.0.1:5001"]
    join += ["--tls", "tls/store-a", "--name", "store-a", "--label", "room=a 1", "--port", "8787"]
    made = codsh(*join, "--unit", env=env, cwd=tmp_path)
    assert made.code == 0, made.err
    text = made.out.decode()
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert exec_start == (
        f"ExecStart={CODSH} node join tls://10.0.0.5:8786 --ipfs http://127.0.0.1:5001 "
        f'--tls {tmp_path}/tls/store-a --name store-a --port 8787 --label "room=a 1"'
    )
    assert "RestartPreventExitStatus=2" in text and "SupplementaryGroups=docker" in text
    assert not (tmp_path / "tls").exists()  # printed, nothing started or made
    sched = ["scheduler", "--tls", str(tmp_path / "s"), "--host", "0.0.0.0", "--unit"]
    scheduler = codsh(*sched, env=env)
    assert scheduler.code == 0, scheduler.err
    assert f"ExecStart={CODSH} scheduler --tls {tmp_path}/s --host 0.0.0.0 --port 8786" in (
        scheduler.out.decode()
    )
    if ANALYZE is None:
        pytest.skip("systemd-analyze is not installed: the units were not verified")
    (tmp_path / "codsh-node.service").write_bytes(made.out)
    (tmp_path / "codsh-scheduler.service").write_bytes(scheduler.out)
    (tmp_path / "ipfs.service").write_text(kubo_unit(kubo_binary()))
    verify(tmp_path, "codsh-node.service", "codsh-scheduler.service", "ipfs.service")


@needs_systemd
def test_systemd_analyze_refuses_a_broken_unit(tmp_path: Path) -> None:
    """The check above means something: a unit whose program is missing is refused."""
    text = examples()["codsh-node.service"]  # /opt/codsh/bin/codsh is not installed here
    (tmp_path / "codsh-node.service").write_text(text)
    with pytest.raises(AssertionError, match="not executable"):
        verify(tmp_path, "codsh-node.service")


def test_node_join_unit_keeps_warm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CODSH_TLS", "DOCKER_HOST")}
    env["CODSH_HOME"] = str(tmp_path)
    join = ["node", "join", "tls://10.0.0.5:8786", "--ipfs", "http://127.0.0.1:5001"]
    made = codsh(*join, "--tls", "tls/a", "--warm", "0", "--unit", env=env, cwd=tmp_path)
    assert made.code == 0, made.err
    exec_start = next(line for line in made.out.decode().splitlines() if "ExecStart=" in line)
    assert exec_start.endswith(" --warm 0")  # no started containers kept on that machine
