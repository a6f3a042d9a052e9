"""Write docs/cli.md from the click command tree (so the reference never drifts from the code).

python scripts/cli_docs.py          # rewrite docs/cli.md
python scripts/cli_docs.py --check  # exit 1 when docs/cli.md is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from codsh.cli import cli

TARGET = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def sections(command: click.Command, path: list[str]) -> list[str]:
    ctx = click.Context(
        command, info_name=" ".join(path), terminal_width=100, max_content_width=100
    )
    out = [
        f"{'#' * min(len(path) + 1, 4)} `{' '.join(path)}`\n",
        "```\n" + command.get_help(ctx) + "\n```\n",
    ]
    if isinstance(command, click.Group):  # lazy groups load their commands here
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None
            out += sections(sub, [*path, name])
    return out


def render() -> str:
    header = "# codsh command reference\n\nGenerated from the code by `scripts/cli_docs.py`; do not edit.\n\n"
    return header + "\n".join(sections(cli, ["codsh"]))


def main() -> None:
    text = render()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is out of date: run `python scripts/cli_docs.py`", file=sys.stderr)
            sys.exit(1)
        return
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(text)


if __name__ == "__main__":
    main()
