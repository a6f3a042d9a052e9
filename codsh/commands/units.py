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
PLAIN = re.compile(r"[A-Za-z0-9_@%$+=:,./-]+")
HEADER = '# Made by `codsh ... --unit`; see README, "A cluster of real machines".'
EXAMPLE_CODSH = "/opt/codsh/bin/codsh"  # deploy/'s units (scripts/deploy_units.py writes them)
EXAMPLE_NODE = [
    "node", "join", "tls://scheduler.example.org:8786", "--ipfs", "http://127.0.0.1:5001",
    "--tls", "/etc/codsh/tls/store-a", "--slots", "2", "--name", "store-a", "--port", "8787",
    "--label", "site=a",
]  # fmt: skip
EXAMPLE_SCHEDULER = ["scheduler", "--tls", "/etc/codsh/tls/scheduler", "--host", "0.0.0.0"]
EXAMPLE_SCHEDULER += ["--port", "8786"]


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
    after = "ipfs.service docker.service" if docker else ""
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
    return _text(HEADER, description, after, service)


def kubo_unit(ipfs: str = "/usr/local/bin/ipfs") -> str:
    """kubo for a storage node: its repo in /var/lib/codsh/ipfs, in the private swarm only
    (LIBP2P_FORCE_PNET=1: no swarm.key, no start), no garbage collection (codsh pins)."""
    service = [
        "Type=simple",
        f"User={USER}",
        f"Group={USER}",
        "StateDirectory=codsh",
        "Environment=IPFS_PATH=/var/lib/codsh/ipfs",
        "Environment=LIBP2P_FORCE_PNET=1",
        f"ExecStart={quote(ipfs)} daemon --enable-gc=false",
        "TimeoutStopSec=30",
        "Restart=on-failure",
        "RestartSec=5",
        "NoNewPrivileges=yes",
    ]
    header = '# kubo for a codsh storage node; see README, "A cluster of real machines".'
    return _text(header, "kubo (IPFS) daemon in the cluster's private swarm", "", service)


def examples() -> dict[str, str]:
    """deploy/'s files: a node, the scheduler, and kubo."""
    codsh = [EXAMPLE_CODSH]
    return {
        "codsh-node.service": unit("codsh node store-a", EXAMPLE_NODE, docker=True, codsh=codsh),
        "codsh-scheduler.service": unit(
            "codsh scheduler", EXAMPLE_SCHEDULER, docker=False, codsh=codsh
        ),
        "ipfs.service": kubo_unit(),
    }


def _text(header: str, description: str, after: str, service: list[str]) -> str:
    lines = [header, "[Unit]", f"Description={description}", "Wants=network-online.target"]
    lines += [f"After=network-online.target {after}".rstrip(), "", "[Service]", *service]
    lines += ["", "[Install]", "WantedBy=multi-user.target"]
    return "\n".join(lines) + "\n"
