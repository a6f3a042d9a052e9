"""systemd units for a cluster of real machines: `codsh node join ... --unit` and `codsh scheduler
... --unit` print a unit that runs that very command (deploy/ has two, made this way).

The unit runs as the `codsh` system user with its state in /var/lib/codsh (StateDirectory=); the
node's user is in the `docker` group (its containers). Exit 2 is a usage or input error (another
cluster's certificates, a missing folder): systemd does not restart on it, so a misconfigured node
says why once instead of looping.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence

USER = "codsh"
PLAIN = re.compile(r"[A-Za-z0-9_@+=:,./-]+")


def codsh_argv() -> list[str]:
    """How this codsh was started, absolute: its console script, or python -m codsh."""
    script = sys.argv[0] if sys.argv else ""
    if not script or script.endswith("__main__.py") or not os.path.isfile(script):
        return [sys.executable, "-m", "codsh"]
    return [os.path.abspath(script)]


def quote(word: str) -> str:
    """One word of an ExecStart= line: % and $ doubled (systemd's specifiers and variables),
    double-quoted unless plain."""
    word = word.replace("%", "%%").replace("$", "$$")
    if PLAIN.fullmatch(word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unit(description: str, args: Sequence[str], *, docker: bool, codsh: Sequence[str] = ()) -> str:
    """The unit file's text for `codsh ARGS` (`codsh`: how to start it, else as this one was)."""
    exec_start = " ".join(quote(word) for word in [*(codsh or codsh_argv()), *args])
    engine = os.environ.get("DOCKER_HOST") if docker and not codsh else None
    after = "network-online.target ipfs.service" + (" docker.service" if docker else "")
    service = [
        "Type=simple",
        f"User={USER}",
        f"Group={USER}",
        *(["SupplementaryGroups=docker"] if docker else []),
        "StateDirectory=codsh",
        "Environment=CODSH_HOME=/var/lib/codsh",
        *([f"Environment=DOCKER_HOST={quote(engine)}"] if engine else []),
        f"ExecStart={exec_start}",
        "TimeoutStopSec=30",
        "Restart=on-failure",
        "RestartSec=5",
        "RestartPreventExitStatus=2",
        "NoNewPrivileges=yes",
    ]
    lines = [
        '# Made by `codsh ... --unit`; see README, "A cluster of real machines".',
        "[Unit]",
        f"Description={description}",
        "Wants=network-online.target",
        f"After={after}",
        "",
        "[Service]",
        *service,
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"
