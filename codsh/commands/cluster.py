"""`codsh scheduler` and `codsh node join`: the processes of a cluster (Dask imported only here)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from codsh.ipfs.address import api_url

F = TypeVar("F", bound=Callable[..., Any])
TLS_HELP = "Folder with ca.pem, cert.pem, key.pem [env CODSH_TLS; the devstack makes one]"


def tls_option(required: bool = False) -> Callable[[F], F]:
    """--tls / CODSH_TLS: the folder with the cluster's certificates."""
    return click.option(
        "--tls",
        "tls",
        envvar="CODSH_TLS",
        required=required,
        type=click.Path(path_type=Path),
        help=TLS_HELP,
    )


def parse_labels(labels: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for label in labels:
        key, sep, value = label.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{label!r} is not key=value", param_hint="--label")
        pairs[key] = value
    return pairs


@click.command()
@tls_option(required=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8786, show_default=True, help="0 for any free port.")
@click.option(
    "--address-file",
    type=click.Path(path_type=Path),
    help="Write the address and dashboard URL here (JSON).",
)
def scheduler(tls: Path, host: str, port: int, address_file: Path | None) -> None:
    """Run the cluster's Dask scheduler (TLS only) until stopped."""
    from codsh.cluster.scheduler import serve

    serve(tls, address_file or Path("/dev/null"), host, port)


@click.group()
def node() -> None:
    """Run this machine's codsh node (a Dask worker beside a kubo and a Docker engine)."""


@node.command()
@click.argument("scheduler_address", metavar="SCHEDULER")
@click.option(
    "--ipfs", "ipfs", envvar="CODSH_IPFS", required=True, help="This node's kubo RPC API."
)
@click.option(
    "--label",
    "labels",
    multiple=True,
    metavar="KEY=VALUE",
    help="A label jobs can --select on (repeatable).",
)
@click.option(
    "--slots", type=click.IntRange(1), default=1, show_default=True, help="Shards at once."
)
@tls_option(required=True)
@click.option("--name", help="Worker name shown by the scheduler.")
def join(
    scheduler_address: str,
    ipfs: str,
    labels: tuple[str, ...],
    slots: int,
    tls: Path,
    name: str | None,
) -> None:
    """Join the cluster at SCHEDULER (tls://host:port) and run shards until stopped."""
    from codsh.cluster.node import serve

    serve(scheduler_address, api_url(ipfs), parse_labels(labels), slots, tls, name)
