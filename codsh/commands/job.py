"""`codsh job ...`: submit jobs and read their records (each subcommand loads when used)."""

from __future__ import annotations

import click

from codsh.commands.lazy import LazyGroup


@click.group(
    cls=LazyGroup,
    lazy={
        "submit": "codsh.commands.submit:submit",
        "run": "codsh.commands.spec_file:run_file",
        "resume": "codsh.commands.execution:resume",
        "quote": "codsh.commands.quote:quote",
        "list": "codsh.commands.records:list_command",
        "describe": "codsh.commands.records:describe",
        "logs": "codsh.commands.records:logs",
        "wait": "codsh.commands.records:wait",
        "cancel": "codsh.commands.records:cancel",
    },
)
def job() -> None:
    """Submit jobs and read their records."""
