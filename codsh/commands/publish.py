"""`codsh publish CID --to TARGET`: copy any CID (an old job's output, a dataset) out of IPFS."""

from __future__ import annotations

import json

import click

from codsh.commands.settings import Settings, pass_settings, run_async
from codsh.completion import cids
from codsh.core.publish import Report, parse_targets


@click.command()
@click.argument("cid", shell_complete=cids)
@click.option(
    "--to",
    "targets",
    multiple=True,
    required=True,
    metavar="TARGET",
    help="dir:PATH or s3://BUCKET/PREFIX (repeatable).",
)
@click.option(
    "--overwrite", is_flag=True, help="Replace a non-empty directory, or objects that differ."
)
@click.option("--json", "as_json", is_flag=True, help="Print what was published as JSON.")
@pass_settings
def publish(
    settings: Settings, cid: str, targets: tuple[str, ...], overwrite: bool, as_json: bool
) -> None:
    """Publish the tree or file at CID[/path] to a directory or an S3 prefix.

    \b
    codsh publish bafy... --to dir:./results
    codsh publish bafy... --to s3://reports/nightly/ --overwrite

    dir:PATH is written into a temporary directory beside PATH and renamed at the end; a
    non-empty PATH is refused unless --overwrite. s3:// takes its credentials, region and
    endpoint (AWS_ENDPOINT_URL) as the AWS tools do; objects already there from the same CID
    are skipped, so a rerun after a failure uploads only what is missing. Objects there with
    other content are refused unless --overwrite. A file's names are kept (spaces, Unicode);
    S3 refuses control characters such as newlines in names.
    """
    from codsh.core.spec import check_input
    from codsh.publish import publish as publish_to

    source = check_input(cid)
    parsed = parse_targets(targets)

    async def go() -> list[Report]:
        async with settings.kubo() as ipfs:
            return [await publish_to(ipfs, source, target, overwrite) for target in parsed]

    reports = run_async(go)
    if as_json:
        click.echo(json.dumps([r.record() for r in reports], ensure_ascii=False))
    for report in reports:
        from codsh.terminal import stderr

        stderr.print(report.summary(), markup=False)
