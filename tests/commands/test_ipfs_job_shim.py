"""The `ipfs job` shim (completions/ipfs-job.sh, issue 14): kubo's global options may come first
(`ipfs --api ADDR job ...`), and `ipfs job ...` completes in real bash and zsh as `codsh job ...`
does, against the session's kubo and the real Docker engine."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from codsh.commands.job import job
from codsh.kubo_daemon import KuboProcess
from tests.commands.cli import add, cat, write_tree
from tests.commands.test_completion_cli import (
    SCRIPTS,
    SHIM_SHELLS,
    TOOLS_BIN,
    VENV_BIN,
    Zsh,
    jobs,
    shell_env,
    shim,
)

__all__ = ["jobs", "shell_env"]  # fixtures, used by name
SHIM = SCRIPTS / "ipfs-job.sh"
JOB_COMMANDS = set(job.list_commands(click.Context(job)))  # what `codsh job <TAB>` offers
NOWHERE = "http://127.0.0.1:9"  # nothing listens: only the option given to `ipfs` finds kubo


@pytest.mark.parametrize("shell", SHIM_SHELLS)
def test_kubo_global_options_may_come_before_job(
    shell: str, env: dict[str, str], tmp_path: Path, kubo: KuboProcess
) -> None:
    env = {
        **env,
        "CODSH_HOME": str(tmp_path / "home"),
        "PATH": os.pathsep.join([str(TOOLS_BIN), str(VENV_BIN), os.environ["PATH"]]),
        "IPFS_PATH": str(kubo.repo),
    }
    source = add(env, write_tree(tmp_path / "in", {"a.txt": b"rain 1\nsun\n"}))
    api = (kubo.repo / "api").read_text().strip()
    blind = {**env, "CODSH_IPFS": NOWHERE, "IPFS_PATH": str(tmp_path / "no-repo")}
    for first in (["--api", api], [f"--api={api}"], ["--repo-dir", str(kubo.repo)]):
        submitted = shim(blind, shell, *first, "job", "submit", "-e", "grep rain", "-c", source)
        assert submitted.returncode == 0, (first, submitted.stderr)
        assert cat(env, f"{submitted.stdout.strip()}/a.txt") == b"rain 1\n"
    by_kubo = shim(blind, shell, "--api", api, "cat", f"{source}/a.txt")  # kubo's, with its option
    assert (by_kubo.returncode, by_kubo.stdout) == (0, "rain 1\nsun\n"), by_kubo.stderr
    refused = shim(blind, shell, "--offline", "job", "list")
    assert refused.returncode == 2 and "--offline does not apply" in refused.stderr
    missing = shim(blind, shell, "--repo-dir", str(tmp_path / "no-repo"), "job", "list")
    assert missing.returncode == 2 and "no running kubo daemon" in missing.stderr


BASH_DRIVER = r"""
source "$1"; shift
COMP_WORDS=("$@")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
_ipfs_job_bash ipfs "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"""


def bash_complete(env: dict[str, str], line: str) -> list[str]:
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", BASH_DRIVER, "bash", str(SHIM), *line.split(" ")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [word for word in done.stdout.splitlines() if word]


def test_bash_completes_ipfs_job(shell_env: dict[str, str], jobs: list[str]) -> None:
    first, second = jobs
    registered = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", f". {SHIM}; complete -p ipfs"],
        capture_output=True,
        text=True,
    )
    assert "-F _ipfs_job_bash ipfs" in registered.stdout, registered.stderr
    assert bash_complete(shell_env, "ipfs jo") == ["job"]
    assert set(bash_complete(shell_env, "ipfs job ")) == JOB_COMMANDS
    assert bash_complete(shell_env, "ipfs job describe ") == [second, first]
    assert bash_complete(shell_env, "ipfs --api /ip4/127.0.0.1/tcp/9 job wait ") == [second, first]
    assert bash_complete(shell_env, "ipfs --offline jo") == ["job"]


@pytest.fixture
def zsh(shell_env: dict[str, str]) -> Iterator[Zsh]:
    shell = Zsh(shell_env)
    shell.send(f". {SHIM} && print SHIM''.\n")
    shell.expect(r"^SHIM\.$")
    try:
        yield shell
    finally:
        shell.close()


def test_zsh_completes_ipfs_job(zsh: Zsh, jobs: list[str]) -> None:
    first, second = jobs
    assert zsh.buffer_after_tab("ipfs jo") == "ipfs job "
    zsh.listing("ipfs job ", *(rf"^{name} +-- \w" for name in sorted(JOB_COMMANDS)))
    zsh.listing(
        "ipfs --api /ip4/127.0.0.1/tcp/9 job describe ",
        rf"^{second} +-- running: wc -l",
        rf"^{first} +-- succeeded: grep rain",
    )
    short = next(first[:n] for n in range(4, 13) if not second.startswith(first[:n]))
    assert zsh.buffer_after_tab(f"ipfs job wait {short}") == f"ipfs job wait {first} "
    assert re.fullmatch(r"\w+", first)
