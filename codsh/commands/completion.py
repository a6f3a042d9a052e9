"""`codsh completion SHELL`: print the shell completion script (the text checked in under completions/)."""

from __future__ import annotations

import click

from codsh import completion


@click.command(name="completion")
@click.argument("shell", type=click.Choice(completion.SHELLS))
@click.pass_context
def completion_command(ctx: click.Context, shell: str) -> None:
    """Print the completion script for bash, zsh or fish (job IDs and CIDs complete from this
    machine's job history). Install it with:

    \b
    bash:  eval "$(codsh completion bash)"                    # in ~/.bashrc, or once:
           codsh completion bash > ~/.local/share/bash-completion/completions/codsh
    zsh:   eval "$(codsh completion zsh)"                     # in ~/.zshrc, after compinit
    fish:  codsh completion fish > ~/.config/fish/completions/codsh.fish
    """
    click.echo(completion.script(shell, ctx.find_root().command), nl=False)
