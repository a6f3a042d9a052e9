"""`codsh devstack up/env/status/down`: local kubo nodes for demos and tests."""

from __future__ import annotations

from pathlib import Path

import click

from codsh.errors import ServiceUnavailable

# codsh.devstack (trio, the kubo client) is imported by each command, so `--help` stays fast.


@click.group()
def devstack() -> None:
    """A local stack: kubo daemons under the codsh data dir (no public network)."""


@devstack.command()
@click.option("--nodes", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option(
    "--engines",
    type=click.IntRange(0, 64),
    default=0,
    show_default=True,
    help="Give the first N nodes a Docker engine of their own (like separate machines: they "
    "load job images from IPFS); 0: every node uses this machine's engine.",
)
def up(nodes: int, engines: int) -> None:
    """Start N kubo nodes in a private swarm, a Dask scheduler, N codsh nodes and the
    orchestrator (`codsh serve`, with a token for you); running ones are kept.

    Each codsh node carries the label devstack=NAME (devstack=node0, devstack=node1, ...), so
    `--select devstack=node1` runs a job on that node only."""
    from codsh import devstack as stack

    if engines > nodes:
        raise click.BadParameter(f"{engines} engines for {nodes} nodes", param_hint="--engines")
    for node in stack.up(nodes, engines):
        click.echo(
            f"{node.name}: kubo API {node.api_url} (pid {node.pid}, repo {node.repo}, "
            f"label devstack={node.name})",
            err=True,
        )
    info = stack.scheduler_info() or {}
    click.echo(
        f"scheduler: {info.get('address')} (TLS, certificates in {stack.tls_dir()})", err=True
    )
    click.echo(f"dashboard: {info.get('dashboard') or 'not available'}", err=True)
    api = stack.orchestrator_info() or {}
    click.echo(
        f"orchestrator: {api.get('api')} (log {stack.orchestrator_log()},"
        f" your token in {stack.token_file()})",
        err=True,
    )
    click.echo("use it from this shell with: eval $(codsh devstack env)", err=True)


@devstack.command(name="add")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--spread",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="How many nodes store each file.",
)
def add_command(path: Path, spread: int) -> None:
    """Add PATH so each file is stored on SPREAD nodes only (round robin); print the root CID.

    Every node can list the dataset, but holds only its share of the bytes: locality is real.
    """
    import trio

    from codsh import devstack as stack

    running = [n.api_url for n in stack.status() if n.running and n.api_url]
    click.echo(trio.run(stack.add_spread, path, spread, running))


@devstack.command()
def env() -> None:
    """Print `export` lines for eval."""
    from codsh import devstack as stack

    running = [n for n in stack.status() if n.running]
    if not running:
        raise ServiceUnavailable("the devstack is not running", "start it with `codsh devstack up`")
    click.echo(f"export CODSH_IPFS={running[0].api_url}")
    api = stack.orchestrator_info()
    if api and stack.token_file().exists():  # users talk to the orchestrator, never to Dask
        click.echo(f"export CODSH_API={api['api']}")
        click.echo(f"export CODSH_TOKEN={stack.token_file().read_text().strip()}")
        if api["api"].startswith("https://"):  # its certificate is from the devstack's CA
            click.echo(f"export CODSH_CA={stack.tls_dir() / 'ca.pem'}")
        return
    info = stack.scheduler_info()
    if info:  # no orchestrator: the scheduler itself, with its client certificate
        click.echo(f"export CODSH_SCHEDULER={info['address']}")
        click.echo(f"export CODSH_TLS={stack.tls_dir()}")


@devstack.command()
def status() -> None:
    """Show each node and whether it runs."""
    from codsh import devstack as stack

    nodes = stack.status()
    if not nodes:
        click.echo("no devstack; start one with `codsh devstack up`")
    for node in nodes:
        state = f"running, API {node.api_url}, pid {node.pid}" if node.running else "stopped"
        click.echo(f"{node.name}: {state}")
    info = stack.scheduler_info()
    if nodes:
        where = f"{info['address']}, dashboard {info['dashboard']}" if info else "stopped"
        click.echo(f"scheduler: {where}")
        api = stack.orchestrator_info()
        serving = f"API {api['api']}, jobs on {api['runs_on']}" if api else "stopped"
        click.echo(f"orchestrator: {serving}")


@devstack.command()
@click.option("--purge", is_flag=True, help="Also delete the nodes' repos (all their data).")
def down(purge: bool) -> None:
    """Stop the orchestrator, the nodes and the scheduler (the orchestrator's running jobs are
    resumed by the next `up`)."""
    from codsh import devstack as stack

    stopped = stack.down(purge)
    click.echo(
        f"stopped {len(stopped)} node(s)" + (" and removed their data" if purge else ""), err=True
    )
