"""`codsh scheduler`, `codsh node join` and `node list`: the processes of a cluster, and its nodes
(Dask imported only when used)."""

from __future__ import annotations

import os
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


def warm_option(default: str) -> Callable[[F], F]:
    """--warm / CODSH_WARM: started containers a long-lived process keeps (executor/warm.py)."""
    return click.option(
        "--warm",
        type=click.IntRange(0),
        envvar="CODSH_WARM",
        metavar="N",
        help="Containers kept started for the next shards of each kind run recently, so a shard "
        f"does not wait ~0.3 s for Docker (0: none) [default: {default}; env CODSH_WARM].",
    )


unit_option = click.option(
    "--unit",
    is_flag=True,
    help="Print a systemd unit that runs this command (see deploy/), instead of running it.",
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
@unit_option
def scheduler(tls: Path, host: str, port: int, address_file: Path | None, unit: bool) -> None:
    """Run the cluster's Dask scheduler (TLS only) until stopped."""
    if unit:
        from codsh.commands.units import unit as make_unit

        args = ["scheduler", "--tls", str(tls.absolute()), "--host", host, "--port", str(port)]
        click.echo(make_unit(f"codsh scheduler on {host}:{port}", args, docker=False), nl=False)
        return
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
    "--slots",
    type=click.IntRange(0),
    default=0,
    help="Shards at once [default: 0, the machine's CPU count].",
)
@warm_option("one per slot")
@tls_option(required=True)
@click.option("--name", help="Worker name shown by the scheduler.")
@click.option(
    "--price",
    "price",
    metavar="LIST",
    help="This node's price list, e.g. cpu-s=0.00002,gb-read=0.001,gb-written=0.004,"
    "gb-fetched=0.01 (those are the defaults; keys left out keep theirs).",
)
@click.option(
    "--host",
    help="The address this node listens on and is reached at [default: the one that reaches "
    "the scheduler].",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="This node's port, which the driver and other nodes reach (0: any free port).",
)
@unit_option
def join(
    scheduler_address: str,
    ipfs: str,
    labels: tuple[str, ...],
    slots: int,
    warm: int | None,
    tls: Path,
    name: str | None,
    price: str | None,
    host: str | None,
    port: int,
    unit: bool,
) -> None:
    """Join the cluster at SCHEDULER (tls://host:port) and run shards until stopped."""
    from codsh.core.bill import PriceError, PriceList, parse_prices

    try:
        prices = parse_prices(price) if price is not None else PriceList()
    except PriceError as exc:
        raise click.BadParameter(str(exc), param_hint="--price") from None
    pairs = parse_labels(labels)
    if unit:
        from codsh.commands.units import unit as make_unit

        args = join_args(scheduler_address, ipfs, labels, slots, tls, name, price, host, port)
        args += ["--warm", str(warm)] if warm is not None else []
        described = f"codsh node {name or ''} of {scheduler_address}".replace("  ", " ")
        click.echo(make_unit(described, args, docker=True), nl=False)
        return
    from codsh.cluster.node import serve
    from codsh.cluster.tls import check_scheduler

    slots = slots or os.cpu_count() or 1  # a shard keeps about one CPU busy

    if not check_scheduler(tls, scheduler_address):  # another cluster's: refused now, said why
        click.echo(f"the scheduler at {scheduler_address} does not answer yet: waiting", err=True)
    serve(scheduler_address, api_url(ipfs), pairs, slots, tls, name, prices, host, port, warm)


def join_args(
    scheduler_address: str,
    ipfs: str,
    labels: tuple[str, ...],
    slots: int,
    tls: Path,
    name: str | None,
    price: str | None,
    host: str | None,
    port: int,
) -> list[str]:
    """`node join`'s arguments as given (the folder made absolute), for a unit that runs it."""
    args = ["node", "join", scheduler_address, "--ipfs", ipfs, "--tls", str(tls.absolute())]
    args += ["--slots", str(slots)] if slots else []  # 0: the machine's CPUs, where it runs
    for option, value in (("--name", name), ("--price", price), ("--host", host)):
        if value is not None:
            args += [option, value]
    if port:
        args += ["--port", str(port)]
    for label in labels:
        args += ["--label", label]
    return args


@node.command("list")
@click.option(
    "--scheduler",
    envvar="CODSH_SCHEDULER",
    metavar="ADDR",
    help="Ask the cluster at ADDR directly (needs --tls) [env CODSH_SCHEDULER].",
)
@tls_option()
@click.option("--json", "as_json", is_flag=True, help="The API's JSON answer.")
def node_list(scheduler: str | None, tls: Path | None, as_json: bool) -> None:
    """The nodes jobs run on: name, health, slots, labels, kubo peer ID.

    With CODSH_API, as the orchestrator sees them (GET /v1/nodes); without, from the cluster
    at --scheduler (with its certificates, --tls)."""
    from codsh.client.api import ApiClient

    api = ApiClient.from_env()
    if api is not None:
        answer = api.call("GET", "/v1/nodes")
    elif scheduler:
        answer = _ask_cluster(scheduler, tls)
    else:
        from codsh.errors import InputError

        raise InputError(
            "no orchestrator or cluster to ask",
            "set CODSH_API and CODSH_TOKEN (`eval $(codsh devstack env)` on a devstack), "
            "or give --scheduler ADDR --tls DIR",
        )
    if as_json:
        import json

        click.echo(json.dumps(answer, indent=2))
        return
    for line in node_table(answer["nodes"]):
        click.echo(line)


def _ask_cluster(scheduler: str, tls: Path | None) -> dict[str, Any]:
    from codsh.api.nodes import list_nodes
    from codsh.commands.settings import run_async
    from codsh.jobs.where import Where

    where = Where(scheduler, tls).checked("asking the cluster needs its certificates")
    nodes = run_async(list_nodes, where, "")
    return {"runs_on": scheduler, "age": 0.0, "nodes": [node.as_dict() for node in nodes]}


def node_table(nodes: list[dict[str, Any]]) -> list[str]:
    """One line per node: NAME HEALTH SLOTS FILES OK FAILED AGREED OUTVOTED DISPUTED PEER LABELS
    (the files it ran and its replicas' votes, from the orchestrator's records: "-" without
    one), a sick node's error after it."""
    counted = ("files", "ok", "failed", "agreed", "outvoted", "disputed")
    rows: list[tuple[str, ...]] = [
        ("NAME", "HEALTH", "SLOTS", *(key.upper() for key in counted), "PEER", "LABELS")
    ]
    for entry in nodes:
        labels = ",".join(f"{k}={v}" for k, v in sorted(entry.get("labels", {}).items()))
        health = "healthy" if entry["healthy"] else "SICK"
        tally = entry.get("tally") or {}
        counts = tuple(str(tally.get(key, "-")) for key in counted)
        peer = str(entry["peer"] or "-")
        rows.append((str(entry["name"]), health, str(entry["slots"]), *counts, peer, labels or "-"))
    last = len(rows[0]) - 1  # the labels, not padded
    widths = [max(len(row[i]) for row in rows) for i in range(last)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:last], widths, strict=True))
        + "  "
        + row[last]
        for row in rows
    ]
    for entry in nodes:
        if not entry["healthy"]:
            lines.append(f"{entry['name']}: {entry.get('error') or 'no answer'}")
    return lines
