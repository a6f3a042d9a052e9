"""Publishers: a job's output (or any CID) copied out of IPFS to a local directory or to S3.

dir   the tree written into a temporary directory beside the target, renamed at the end
s3    boto3 in threads under a capacity limiter: many files at once, multipart for large ones,
      streamed from kubo part by part, a rerun uploads only what is missing

What to publish and under which names is decided in core/publish.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from codsh.core.publish import DirTarget, Report, S3Target, Target, items, parse_targets
from codsh.core.spec import DEFAULT_FIND_TIMEOUT
from codsh.inputs import list_input
from codsh.ipfs.client import KuboClient


async def publish(
    ipfs: KuboClient,
    source: str,
    target: Target,
    overwrite: bool = False,
    find_timeout: float = DEFAULT_FIND_TIMEOUT,
) -> Report:
    """Copy the tree or file at `source` (CID[/path]) to `target`; say what was done."""
    tree = await list_input(ipfs, source, find_timeout)
    files = [(f.path, f.cid, f.size) for f in tree.files]
    wanted = items(files, source, s3=isinstance(target, S3Target))
    report = Report(str(target), source, files=len(wanted))
    if isinstance(target, DirTarget):
        from codsh.publish.dir import publish_dir

        await publish_dir(ipfs, wanted, tree.directories, target, overwrite, report)
    else:
        from codsh.publish.s3 import publish_s3

        await publish_s3(ipfs, wanted, target, overwrite, report)
    return report


async def publish_all(
    ipfs: KuboClient, source: str, targets: Sequence[str], overwrite: bool = False
) -> list[Report]:
    """Publish `source` to each of `targets` (target texts; `ipfs` is where it already is)."""
    return [await publish(ipfs, source, t, overwrite) for t in parse_targets(targets)]


async def preflight(targets: Sequence[str], overwrite: bool = False) -> None:
    """Refuse, before a job runs, the targets it could not publish to: a non-empty directory
    without `overwrite`, a bucket that is missing or refuses the credentials."""
    for target in parse_targets(targets):
        if isinstance(target, DirTarget):
            from codsh.publish.dir import check_dir

            check_dir(target, overwrite)
        else:
            from codsh.publish.s3 import check_bucket

            await check_bucket(target)


async def publish_output(
    ipfs: KuboClient, output_cid: str, targets: Sequence[str], overwrite: bool
) -> list[Report]:
    """A job's end: publish its output; a failure says the output CID is safe in IPFS."""
    from codsh.errors import CodshError

    try:
        return await publish_all(ipfs, output_cid, targets, overwrite)
    except CodshError as exc:
        exc.message = (
            f"the job's output {output_cid} is in IPFS, but publishing it failed: {exc.message}"
        )
        exc.hint = exc.hint or f"then: codsh publish {output_cid} --to TARGET"
        exc.args = (exc.message,)
        raise
