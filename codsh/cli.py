"""The `codsh` command: click groups, global options, and one place that turns errors into exit codes.

Subcommands load lazily (click's documented lazy-group pattern): a command's module is imported
when it runs or its help is shown, so `codsh job list` or a TAB pays only for what it uses. The
command modules import nothing heavy at import time (docker, trio, httpcore, rich, distributed);
bench/startup.py measures it.
"""

from __future__ import annotations

import sys

import click

from codsh import __version__
from codsh.commands.lazy import LazyGroup
from codsh.commands.settings import Settings
from codsh.errors import CodshError, leaf

COMMANDS = {
    "add": "codsh.commands.data:add",
    "ls": "codsh.commands.data:ls_command",
    "cat": "codsh.commands.data:cat",
    "get": "codsh.commands.data:get",
    "dataset": "codsh.commands.dataset:dataset",
    "job": "codsh.commands.job:job",
    "run": "codsh.commands.submit:run",
    "pipe": "codsh.commands.pipe:pipe",
    "publish": "codsh.commands.publish:publish",
    "name": "codsh.commands.name:name",
    "fn": "codsh.commands.fn:fn",
    "devstack": "codsh.commands.devstack:devstack",
    "images": "codsh.commands.images:images",
    "serve": "codsh.commands.serve:serve",
    "cluster": "codsh.commands.certs:cluster",
    "scheduler": "codsh.commands.cluster:scheduler",
    "node": "codsh.commands.cluster:node",
    "completion": "codsh.commands.completion:completion_command",
}


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
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


def main(argv: list[str] | None = None) -> None:
    """Entry point: CodshError -> `error: ...` + hint, exit 2 (usage/input) or its own code."""
    try:
        code = cli.main(args=argv, prog_name="codsh", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:  # usage errors: said as every other error is
        context = getattr(exc, "ctx", None)
        if context is not None:
            click.echo(context.get_usage(), err=True)
        click.secho(f"error: {exc.format_message()}", fg="red", err=True)
        where = context.command_path if context is not None else "codsh"
        click.echo(f"  hint: `{where} --help` lists the arguments and options", err=True)
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
