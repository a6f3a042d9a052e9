"""`codsh job run FILE`: run a job spec file (YAML or JSON) through `codsh job submit` itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from codsh.core import specfile
from codsh.errors import InputError


@click.command("run")
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a field (repeatable; the value is read as YAML, select.LABEL=VALUE for one label).",
)
@click.option("--dry-run", is_flag=True, help="Print the spec as it would run; run nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON result instead of the CID.")
@click.pass_context
def run_file(
    ctx: click.Context, spec_file: Path, overrides: tuple[str, ...], dry_run: bool, as_json: bool
) -> None:
    """Run the job a spec file describes: the fields of `codsh job submit`'s options.

    \b
    command: sed -n '/38.7[2-4]....,-9.1[3-5]..../p'    # or function: f.py (+ fn, requirements)
    input: bafy...                                     # or program: bafy... (bundle or module)
    concat: true
    timeout: 60
    select: {zone: eu}
    ok_exit: [0, 1]
    name: nightly

    Fields: command, function, fn, requirements, program, input, concat, image, timeout, memory,
    cpus, pids, output_limit, fuel, slots, shard_size, find_timeout, select, memo, ok_exit, name,
    replicas, max_price. Paths are relative to the file. `codsh job submit ... --dry-run > job.yaml`
    writes one; the file and the flags give the same job (same memo key, same output CID).

    Exit status: as `codsh job submit`.
    """
    from codsh.commands.submit import submit

    source = spec_file.name
    fields = specfile.parse(spec_file.read_text(encoding="utf-8"), source)
    for text in overrides:
        key, value = specfile.parse_setting(text)
        if key == "select" and "select" in fields:
            value = {**fields["select"][0], **value}
        fields[key] = (value, 0)
    params = specfile.to_params(fields, source)
    for name in ("script", "requirements"):
        if name in params:
            params[name] = _relative(spec_file, params[name], name)
    if dry_run:
        click.echo(specfile.render(params), nl=False)
        return
    ctx.invoke(submit, **params, as_json=as_json)


def _relative(spec_file: Path, text: str, what: str) -> Path:
    path = Path(text) if Path(text).is_absolute() else spec_file.parent / text
    if not path.is_file():
        raise InputError(
            f"{spec_file.name}: {what} {text!r}: no such file ({path})", "check the path"
        )
    return path


def dry_run_params(ctx: click.Context) -> dict[str, Any]:
    """The job fields given on this command line (not the defaults): what `--dry-run` prints."""
    from click.core import ParameterSource

    return {
        name: value
        for name, value in ctx.params.items()
        if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)
    }
