"""The `codsh` command: click groups, global options, and one place that turns errors into exit codes."""

from __future__ import annotations

import sys

import click

from codsh import __version__
from codsh.commands import cluster, data, dataset, devstack, fn, images, job, pipe
from codsh.commands.completion import completion_command
from codsh.commands.settings import Settings
from codsh.errors import CodshError, leaf


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--ipfs",
    envvar="CODSH_IPFS",
    metavar="ADDR",
    help="kubo RPC API as multiaddr or URL [env CODSH_IPFS; default: the devstack, then ~/.ipfs]",
)
@click.version_option(__version__, prog_name="codsh")
@click.pass_context
def cli(ctx: click.Context, ipfs: str | None) -> None:
    """Run shell commands next to data on IPFS; every job turns a CID into a new CID."""
    ctx.obj = Settings(ipfs)


for command in (
    *data.commands,
    dataset.dataset,
    job.job,
    job.run,
    pipe.pipe,
    fn.fn,
    devstack.devstack,
    images.images,
    cluster.scheduler,
    cluster.node,
    completion_command,
):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: CodshError -> `error: ...` + hint, exit 2 (usage/input) or its own code."""
    try:
        code = cli.main(args=argv, prog_name="codsh", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (CodshError, KeyboardInterrupt, BaseExceptionGroup) as exc:
        if leaf(exc, KeyboardInterrupt):
            click.echo("interrupted", err=True)
            sys.exit(130)
        error = leaf(exc, CodshError)
        if not isinstance(error, CodshError):
            raise
        click.secho(f"error: {error.message}", fg="red", err=True)
        if error.hint:
            click.echo(f"  hint: {error.hint}", err=True)
        sys.exit(error.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
