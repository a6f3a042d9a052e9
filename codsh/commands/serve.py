"""`codsh serve`: the orchestrator (an HTTP API in front of the cluster), and its tokens."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from codsh.commands.cluster import tls_option
from codsh.commands.settings import Settings, pass_settings, run_async


@click.group(invoke_without_command=True)
@click.option(
    "--bind",
    default="127.0.0.1:8765",
    show_default=True,
    metavar="HOST:PORT",
    help="Where the API listens (port 0: any free port; see serve.json in the data dir).",
)
@click.option(
    "--scheduler",
    envvar="CODSH_SCHEDULER",
    metavar="ADDR",
    help="Run jobs on the cluster at ADDR [env CODSH_SCHEDULER]; without it, on this machine.",
)
@tls_option()
@click.option(
    "--max-running",
    type=click.IntRange(1),
    default=8,
    show_default=True,
    help="Jobs one user may have running at once (more get HTTP 429).",
)
@click.option(
    "--certfile",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="PEM",
    help="Serve https with this certificate (chain) [with --keyfile].",
)
@click.option(
    "--keyfile",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="PEM",
    help="The private key of --certfile.",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Allow http on a non-loopback --bind (only behind a proxy that terminates TLS).",
)
@click.pass_context
def serve(
    ctx: click.Context,
    bind: str,
    scheduler: str | None,
    tls: Path | None,
    max_running: int,
    certfile: Path | None,
    keyfile: Path | None,
    insecure: bool,
) -> None:
    """Run the orchestrator: users submit jobs to its HTTP API with a token, and it runs them
    (here, or on the cluster as its only Dask client) against its own kubo.

    \b
    codsh serve token add alice        # prints alice's token (once)
    codsh serve --bind 127.0.0.1:8765  # then: curl -H "Authorization: Bearer $TOKEN" .../v1/jobs
    codsh serve --bind 0.0.0.0:8765 --certfile cert.pem --keyfile key.pem   # https
    """
    if ctx.invoked_subcommand is not None:
        return
    from codsh.api.server import ServeOptions
    from codsh.api.server import serve as run_server
    from codsh.jobs.where import Where

    settings = ctx.find_object(Settings)
    assert settings is not None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    where = Where(scheduler, tls).checked()
    options = ServeOptions(
        bind, settings.api_url(), where, max_running, certfile, keyfile, insecure
    )
    try:
        run_async(run_server, options)
    except KeyboardInterrupt:
        click.echo("stopped", err=True)


@serve.group()
def token() -> None:
    """Bearer tokens: one per user (stored hashed; shown once when made)."""


@token.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="May see and cancel every user's jobs.")
def token_add(name: str, admin: bool) -> None:
    """Make a token for user NAME and print it (keep it: only its hash is stored)."""
    from codsh.api.server import tokens_db
    from codsh.api.tokens import TokenStore

    store = TokenStore(tokens_db())
    try:
        click.echo(store.add(name, admin))
    finally:
        store.close()


@token.command("rm")
@click.argument("name")
def token_rm(name: str) -> None:
    """Revoke user NAME's token: their next request gets 401."""
    from codsh.api.server import tokens_db
    from codsh.api.tokens import TokenStore

    store = TokenStore(tokens_db())
    try:
        store.remove(name)
    finally:
        store.close()
    click.echo(f"revoked {name}'s token", err=True)


@token.command("list")
@pass_settings
def token_list(settings: Settings) -> None:
    """The users with a token."""
    from codsh.api.server import tokens_db
    from codsh.api.tokens import TokenStore

    store = TokenStore(tokens_db())
    try:
        for user in store.users():
            click.echo(f"{user.name}{'  (admin)' if user.admin else ''}")
    finally:
        store.close()
