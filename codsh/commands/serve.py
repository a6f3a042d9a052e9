"""`codsh serve`: the orchestrator (an HTTP API in front of the cluster), and its tokens."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from codsh.commands.cluster import tls_option, warm_option
from codsh.commands.settings import Settings, pass_settings, run_async

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_MAX_FILES = 100_000  # as codsh.api.limits (not imported: it loads the API)


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
    help="Jobs one user may have running at once (more get HTTP 429), unless their token "
    "says otherwise.",
)
@click.option(
    "--max-files",
    type=click.IntRange(1),
    default=DEFAULT_MAX_FILES,
    show_default=True,
    help="Files one job may have (a bigger input gets HTTP 429 before anything runs), unless "
    "the user's token says otherwise.",
)
@warm_option("one per core, for the jobs it runs itself")
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
    "--tls-from-cluster",
    is_flag=True,
    help="Serve https with the orchestrator's cluster certificate (--tls DIR: signed by the "
    "cluster's CA, for localhost and 127.0.0.1); clients set CODSH_CA=DIR/ca.pem.",
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
    max_files: int,
    warm: int | None,
    certfile: Path | None,
    keyfile: Path | None,
    tls_from_cluster: bool,
    insecure: bool,
) -> None:
    """Run the orchestrator: users submit jobs to its HTTP API with a token, and it runs them
    (here, or on the cluster as its only Dask client) against its own kubo.

    \b
    codsh serve token add alice        # prints alice's token (once)
    codsh serve --bind 127.0.0.1:8765  # then: curl -H "Authorization: Bearer $TOKEN" .../v1/jobs
    codsh serve --bind 0.0.0.0:8765 --certfile cert.pem --keyfile key.pem   # https
    codsh serve --scheduler tls://... --tls DIR --tls-from-cluster   # https, the cluster's CA
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
        bind,
        settings.api_url(),
        where,
        max_running,
        certfile,
        keyfile,
        insecure,
        tls_from_cluster,
        max_files,
        warm,
    )
    try:
        run_async(run_server, options)
    except KeyboardInterrupt:
        click.echo("stopped", err=True)


@serve.group()
def token() -> None:
    """Bearer tokens: one per user (stored hashed; shown once when made)."""


def limit_options(zero: str = "") -> Callable[[F], F]:
    """--max-running and --max-files of one token (`zero`: what 0 means, when it may be given)."""

    def decorate(command: F) -> F:
        for option, what in (("--max-files", "files per job"), ("--max-running", "jobs at once")):
            command = click.option(
                option,
                type=click.IntRange(0 if zero else 1),
                metavar="N",
                help=f"This user's {what} (default: the orchestrator's){zero}.",
            )(command)
        return command

    return decorate


@token.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="May see and cancel every user's jobs.")
@limit_options()
def token_add(name: str, admin: bool, max_files: int | None, max_running: int | None) -> None:
    """Make a token for user NAME and print it (keep it: only its hash is stored)."""
    from codsh.api.server import tokens_db
    from codsh.api.tokens import TokenStore

    store = TokenStore(tokens_db())
    try:
        click.echo(store.add(name, admin, max_running, max_files))
    finally:
        store.close()


@token.command("limits")
@click.argument("name")
@limit_options("; 0: back to the default")
def token_limits(name: str, max_files: int | None, max_running: int | None) -> None:
    """Set user NAME's limits (their token stays the same; a running orchestrator applies them
    at the next request)."""
    from codsh.api.server import tokens_db
    from codsh.api.tokens import TokenStore

    store = TokenStore(tokens_db())
    try:
        user = store.set_limits(name, max_running, max_files)
    finally:
        store.close()
    click.echo(f"{name}: {limits_text(user.max_running, user.max_files)}", err=True)


def limits_text(max_running: int | None, max_files: int | None) -> str:
    running = f"{max_running} jobs at once" if max_running else "the default jobs at once"
    files = f"{max_files} files per job" if max_files else "the default files per job"
    return f"{running}, {files}"


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
            limits = limits_text(user.max_running, user.max_files)
            click.echo(f"{user.name}{'  (admin)' if user.admin else ''}  {limits}")
    finally:
        store.close()
