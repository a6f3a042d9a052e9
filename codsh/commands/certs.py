"""`codsh cluster certs` and `codsh cluster swarm-key`: what a cluster of real machines shares,
made on the machine that keeps the CA (codsh/cluster/tls.py), then copied member by member."""

from __future__ import annotations

import re
from pathlib import Path

import click

from codsh.errors import InputError

MEMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
FIXED = ("scheduler", "orchestrator")


def member_names(nodes: tuple[str, ...]) -> list[str]:
    """The scheduler, the orchestrator and each node once; a name must be a plain folder name."""
    names = list(FIXED)
    for node in nodes:
        if not MEMBER.fullmatch(node) or node.endswith(".pem"):
            raise click.BadParameter(
                f"{node!r} is not a node name (letters, digits, '.', '_', '-')",
                param_hint="--node",
            )
        if node in FIXED:
            raise click.BadParameter(f"{node!r} is a member already", param_hint="--node")
        if node not in names:
            names.append(node)
    return names


@click.group()
def cluster() -> None:
    """What the machines of a cluster share: certificates and the kubo swarm key."""


@cluster.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--node",
    "nodes",
    multiple=True,
    metavar="NAME",
    help="A node's certificate (repeatable; run again with more to add nodes later).",
)
@click.option(
    "--host",
    "hosts",
    multiple=True,
    metavar="NAME|IP",
    help="A name or address the scheduler and orchestrator are reached at (repeatable; "
    "`codsh serve --tls-from-cluster` checks it).",
)
@click.option("--days", type=click.IntRange(1), default=365, show_default=True)
def certs(folder: Path, nodes: tuple[str, ...], hosts: tuple[str, ...], days: int) -> None:
    """Make the cluster's CA in FOLDER (once) and a certificate for the scheduler, the
    orchestrator and each --node, each in FOLDER/<member>, the folder its --tls reads.

    Copy FOLDER/<member> to that member's machine only; FOLDER/ca-key.pem stays here (it
    signs the members added later). Members already made from this CA are kept."""
    from codsh.cluster.tls import CA, CA_KEY, cluster_id, issue, make_ca

    names = member_names(nodes)
    if folder.exists() and not (folder / CA).exists() and any(folder.iterdir()):
        raise InputError(
            f"{folder} is not empty and holds no cluster CA",
            "give an empty or new folder (or the one `codsh cluster certs` made before)",
        )
    new = make_ca(folder, days)
    click.echo(f"CA {'made' if new else 'kept'}: {folder / CA} (cluster {cluster_id(folder)})")
    click.echo(f"  keep {folder / CA_KEY} on this machine only")
    for name in names:
        member = issue(folder, name, days, hosts if name in FIXED else ())
        click.echo(f"{name}: {member}  (its --tls folder: copy it to the {name} host)")


@cluster.command("swarm-key")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def swarm_key(file: Path) -> None:
    """Write a new kubo swarm key to FILE (mode 0600): copy it to each node's kubo repo as
    swarm.key, so their kubos form a private swarm and talk to no one else."""
    from codsh.kubo_daemon import new_swarm_key

    if file.exists():
        raise InputError(
            f"{file} exists: a new key would split the swarm from the nodes that have it",
            "copy the existing key, or remove the file first to make a new swarm",
        )
    try:
        file.touch(mode=0o600, exist_ok=False)
        file.write_bytes(new_swarm_key())
    except OSError as exc:
        raise InputError(f"cannot write {file}: {exc.strerror}", "give a writable path") from exc
    click.echo(f"swarm key: {file}  (copy it to each node's kubo repo as swarm.key)")
