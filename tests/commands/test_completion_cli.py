"""Completion in real shells (bash, zsh, fish) with the checked-in scripts, `codsh completion`, and
the `ipfs job` shim against the session's kubo and the real Docker engine.

Each shell runs with the repo's .venv/bin first on PATH (so `codsh` is this checkout's) and
CODSH_HOME in a temporary folder holding a job history made with JobStore (no job runs for that).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shlex
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codsh.core.model import FileResult
from codsh.core.spec import JobSpec
from codsh.jobs.finish import JobResult
from codsh.jobs.store import JobStore
from codsh.kubo_daemon import KuboProcess
from tests.commands.cli import CODSH, add, cat, codsh, write_tree

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "completions"
VENV_BIN = Path(CODSH).parent
TOOLS_BIN = ROOT / ".tools" / "bin"
SHELLS = ("bash", "zsh", "fish")
JOB_COMMANDS = {"submit", "run", "resume", "list", "describe", "logs", "wait", "cancel", "quote"}
IN_1 = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
IN_2 = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
OUT_1 = "bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby"


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    """This checkout's codsh first on PATH, a data dir of the test's own, and a HOME that keeps the
    shells away from the user's rc files and caches."""
    return {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "CODSH_HOME": str(tmp_path / "codsh-home"),
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }


@pytest.fixture
def jobs(shell_env: dict[str, str]) -> list[str]:
    """Two recorded jobs: `grep rain` on IN_1 (succeeded, output OUT_1), then `wc -l` on IN_2
    (still running). Their IDs, oldest first."""
    store = JobStore(Path(shell_env["CODSH_HOME"]) / "jobs.sqlite")
    first = store.create(JobSpec("grep rain", IN_1), "this node")
    spec = JobSpec("grep rain", IN_1)
    done = FileResult("a.txt", IN_1, 5, exit_code=0, output_cid=OUT_1)
    store.finish(first.id, JobResult(OUT_1, "bafkman", [done], 0.5, spec))
    time.sleep(0.01)
    second = store.create(JobSpec("wc -l", IN_2), "this node")
    store.close()
    return [first.id, second.id]


def unique_prefix(job_id: str, other: str) -> str:
    """The shortest prefix (4 characters at least) of `job_id` that `other` does not start with."""
    return next(job_id[:n] for n in range(4, len(job_id) + 1) if not other.startswith(job_id[:n]))


# -- codsh completion -------------------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_codsh_completion_prints_the_checked_in_script(shell: str) -> None:
    printed = codsh("completion", shell, env=dict(os.environ))
    assert printed.code == 0 and printed.err == ""
    assert printed.out.decode() == (SCRIPTS / f"codsh.{shell}").read_text()
    clicks_own = subprocess.run(
        [CODSH], env={**os.environ, "_CODSH_COMPLETE": f"{shell}_source"}, capture_output=True
    )
    assert clicks_own.stdout == printed.out


def test_codsh_completion_refuses_other_shells_and_says_how_to_install() -> None:
    refused = codsh("completion", "tcsh", env=dict(os.environ))
    assert refused.code == 2 and "tcsh" in refused.err and refused.out == b""
    helped = codsh("completion", "--help", env=dict(os.environ)).out.decode()
    assert 'eval "$(codsh completion bash)"' in helped
    assert "~/.local/share/bash-completion/completions/codsh" in helped


# -- bash -------------------------------------------------------------------------------------

BASH_DRIVER = r"""
source "$1"; shift
fn=$(complete -p codsh | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
[ -n "$fn" ] || { echo "no completion function registered for codsh" >&2; exit 3; }
COMP_WORDS=("$@")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
"$fn" codsh "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"""


def bash_complete(env: dict[str, str], line: str) -> list[str]:
    """COMPREPLY after the function that completions/codsh.bash registers for `codsh` runs on
    `line` (the word after its last space is the one being completed)."""
    words = line.split(" ")
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", BASH_DRIVER, "bash", str(SCRIPTS / "codsh.bash")]
        + words,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [word for word in done.stdout.splitlines() if word]


def test_bash_completes_commands_job_ids_and_cids(
    shell_env: dict[str, str], jobs: list[str]
) -> None:
    first, second = jobs
    assert bash_complete(shell_env, "codsh jo") == ["job"]
    assert set(bash_complete(shell_env, "codsh job ")) == JOB_COMMANDS
    assert bash_complete(shell_env, "codsh job describe ") == [second, first]
    short = unique_prefix(first, second)
    assert bash_complete(shell_env, f"codsh job describe {short}") == [first]
    assert bash_complete(shell_env, "codsh run -c ") == [IN_2, OUT_1, IN_1]
    assert bash_complete(shell_env, "codsh cat bafybeic") == [OUT_1]


# -- zsh --------------------------------------------------------------------------------------

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|[\r\x07]")
ZSH_SETUP = (
    "unsetopt LIST_AMBIGUOUS"  # list the candidates even when a common prefix gets inserted
    " && autoload -U compinit && compinit -u -D"
    f" && source {shlex.quote(str(SCRIPTS / 'codsh.zsh'))}"
    ' && show-buffer() { print -r -- "<<$BUFFER>>"; BUFFER= }'
    " && zle -N show-buffer && bindkey '^X' show-buffer"
    " && print READY''.\n"
)


class Zsh:
    """An interactive `zsh -f` on a pseudo-terminal: its completion system only runs inside the
    line editor, which needs a terminal. Keys go in; the screen text comes out."""

    def __init__(self, env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 60, 200, 0, 0))
        self.proc = subprocess.Popen(
            ["zsh", "-f", "-i"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**env, "TERM": "dumb", "PS1": "> "},
            cwd=ROOT,
            start_new_session=True,
        )
        os.close(slave)
        self.raw = b""  # what the terminal showed since the last expect() matched
        self.send(ZSH_SETUP)
        self.expect(r"^READY\.$")

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def expect(self, *patterns: str, timeout: float = 30) -> list[re.Match[str]]:
        """Read until every regex in `patterns` (multiline) matches the screen text shown since the
        last expect(); that text is then consumed."""
        deadline = time.monotonic() + timeout
        while True:
            screen = ANSI.sub(b"", self.raw).decode(errors="replace")
            found = [re.search(pattern, screen, re.M) for pattern in patterns]
            if all(found):
                self.raw = b""
                return [match for match in found if match]
            left = deadline - time.monotonic()
            if left <= 0:
                missing = [p for p, match in zip(patterns, found, strict=True) if not match]
                raise AssertionError(f"zsh never showed {missing}; it showed:\n{screen}")
            if select.select([self.master], [], [], min(left, 0.2))[0]:
                self.raw += os.read(self.master, 65536)

    def listing(self, line: str, *listed: str) -> None:
        """Type `line`, press TAB: every regex in `listed` must show in the listing. Then clear."""
        self.send(line + "\t")
        self.expect(*listed)
        self.send("\x15")  # ^U: kill the line

    def buffer_after_tab(self, line: str) -> str:
        """Type `line`, press TAB, and read back the edited line (then clear it)."""
        self.send(line + "\t\x18")  # ^X: show-buffer
        return self.expect(r"<<(.*)>>")[0].group(1)

    def close(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        os.close(self.master)


@pytest.fixture
def zsh(shell_env: dict[str, str]) -> Iterator[Zsh]:
    shell = Zsh(shell_env)
    try:
        yield shell
    finally:
        shell.close()


def test_zsh_completes_commands_job_ids_and_cids(zsh: Zsh, jobs: list[str]) -> None:
    first, second = jobs
    short = unique_prefix(first, second)
    assert zsh.buffer_after_tab("codsh jo") == "codsh job "
    zsh.listing("codsh job ", *(rf"^{name} +-- \w" for name in sorted(JOB_COMMANDS)))
    zsh.listing(
        "codsh job describe ",
        rf"^{second} +-- running: wc -l",
        rf"^{first} +-- succeeded: grep rain",
    )
    assert zsh.buffer_after_tab(f"codsh job wait {short}") == f"codsh job wait {first} "
    zsh.listing(
        "codsh run -c ",
        rf"^{OUT_1} +-- output of job {first}: grep rain",
        rf"^{IN_2} +-- input of job {second}: wc -l",
    )
    assert zsh.buffer_after_tab("codsh ls bafybeic") == f"codsh ls {OUT_1} "


# -- fish -------------------------------------------------------------------------------------


def fish_complete(env: dict[str, str], line: str) -> list[str]:
    """What fish offers for `line` with completions/codsh.fish loaded: `value<TAB>help` lines."""
    done = subprocess.run(
        ["fish", "--no-config", "-c", "source $argv[1]; and complete -C $argv[2]"]
        + [str(SCRIPTS / "codsh.fish"), line],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout.splitlines()


def test_fish_completes_commands_job_ids_and_cids(
    shell_env: dict[str, str], jobs: list[str]
) -> None:
    first, second = jobs
    assert fish_complete(shell_env, "codsh jo") == ["job\tSubmit jobs and read their records."]
    assert {item.split("\t")[0] for item in fish_complete(shell_env, "codsh job ")} == JOB_COMMANDS
    # fish sorts the candidates itself (click's script does not ask it to keep their order)
    assert set(fish_complete(shell_env, "codsh job describe ")) == {
        f"{second}\trunning: wc -l",
        f"{first}\tsucceeded: grep rain",
    }
    offered = {item.split("\t")[0] for item in fish_complete(shell_env, "codsh run -c ")}
    assert offered == {IN_2, OUT_1, IN_1}
    assert fish_complete(shell_env, "codsh get bafybeic") == [
        f"{OUT_1}\toutput of job {first}: grep rain"
    ]


# -- silence and speed ------------------------------------------------------------------------


@pytest.mark.parametrize("words", ["codsh job describe ", "codsh run -c ", "codsh cat "])
def test_completion_without_history_is_silent_fast_and_creates_nothing(
    shell_env: dict[str, str], words: str
) -> None:
    """No job store: nothing on stdout or stderr, exit 0, no data dir made; and no service is
    contacted (kubo, Docker and the scheduler all point at a socket that counts connections)."""
    with socket.socket() as trap:
        trap.bind(("127.0.0.1", 0))
        trap.listen(8)
        trap.setblocking(False)
        port = trap.getsockname()[1]
        env = {
            **shell_env,
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split(" ")) - 1),
            "_CODSH_COMPLETE": "bash_complete",
            "CODSH_IPFS": f"/ip4/127.0.0.1/tcp/{port}",
            "DOCKER_HOST": f"tcp://127.0.0.1:{port}",
            "CODSH_SCHEDULER": f"tls://127.0.0.1:{port}",
        }
        started = time.monotonic()
        done = subprocess.run([CODSH], env=env, capture_output=True, timeout=60)
        seconds = time.monotonic() - started
        with pytest.raises(BlockingIOError):
            trap.accept()
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, b"", b"")
    assert not Path(shell_env["CODSH_HOME"]).exists()
    print(f"one completion took {seconds:.2f}s", file=sys.stderr)
    assert seconds < 15  # generous: a busy machine; a blocking network call would take longer


# -- the ipfs job shim --------------------------------------------------------------------------


SHIM_SHELLS = {"bash": ["bash", "--norc", "--noprofile", "-c"], "zsh": ["zsh", "-f", "-c"]}


def shim(env: dict[str, str], shell: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`ipfs ARGS` in `shell` with completions/ipfs-job.sh sourced."""
    script = '. "$1"; shift; ipfs "$@"'
    return subprocess.run(
        [*SHIM_SHELLS[shell], script, shell, str(SCRIPTS / "ipfs-job.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=180,
    )


@pytest.mark.parametrize("shell", SHIM_SHELLS)
def test_ipfs_job_runs_codsh_and_every_other_ipfs_command_runs_kubo(
    shell: str, env: dict[str, str], tmp_path: Path, kubo: KuboProcess
) -> None:
    env = {
        **env,
        "CODSH_HOME": str(tmp_path / "home"),
        "PATH": os.pathsep.join([str(TOOLS_BIN), str(VENV_BIN), os.environ["PATH"]]),
        "IPFS_PATH": str(kubo.repo),  # kubo's CLI finds the daemon from its repo
    }
    source = add(env, write_tree(tmp_path / "in", {"a.txt": b"rain 1\nsun\nrain 2\n"}))

    version = shim(env, shell, "version")
    assert (version.returncode, version.stdout) == (0, "ipfs version 0.42.0\n"), version.stderr

    submitted = shim(env, shell, "job", "submit", "-e", "grep rain", "-c", source)
    assert submitted.returncode == 0, submitted.stderr
    output = submitted.stdout.strip()
    assert re.fullmatch(r"b[a-z2-7]{58}", output), submitted.stdout
    assert cat(env, f"{output}/a.txt") == b"rain 1\nrain 2\n"

    listed = shim(env, shell, "job", "list")
    assert listed.returncode == 0 and output in listed.stdout and "grep rain" in listed.stdout

    by_kubo = shim(env, shell, "cat", f"{output}/a.txt")  # kubo's own CLI, on the same daemon
    assert (by_kubo.returncode, by_kubo.stdout) == (0, "rain 1\nrain 2\n"), by_kubo.stderr

    help_ = shim(env, shell, "job")
    direct = codsh("job", env=env)
    assert help_.returncode == direct.code
    assert "Submit jobs and read their records." in help_.stdout + help_.stderr
    assert (help_.stdout + help_.stderr) == direct.out.decode() + direct.err
