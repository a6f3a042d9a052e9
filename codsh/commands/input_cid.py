"""The input CID of a command: from its flag or argument, else piped on stdin (jobs chain like
shell pipes: `codsh add data/ | codsh run -e "grep x" | codsh cat`). A stable name (`-c NAME`,
`-c /ipns/KEY`) is resolved to a CID here, at submit time, so the job records the CID it ran on
(and memo and resume stay exact)."""

from __future__ import annotations

import sys
from urllib.parse import urlencode

import click

from codsh.core.spec import check_input
from codsh.errors import InputError


def read_input_cid(cid: str | None) -> str:
    """`-c CID`, else a CID piped on stdin (so jobs chain like shell pipes)."""
    if cid:
        return resolve_input(cid)
    if sys.stdin.isatty():
        raise InputError("no input CID given", "pass one with -c CID, or pipe a CID on stdin")
    text = sys.stdin.read()
    words = text.split()
    if len(words) != 1:
        shown = f": {text[:80]!r}" if words else ""
        raise InputError(
            f"expected one CID on stdin, got {len(words)} words{shown}",
            "pipe exactly one CID (what `codsh add` or another job prints), or use -c CID",
        )
    return resolve_input(words[0])


def resolve_input(text: str) -> str:
    """A CID[/path] as it is; a name or an /ipns/ path resolved where the job will run: by the
    orchestrator with CODSH_API, else from the names published here, else through kubo."""
    from codsh.names import NameStore, is_cid_path, resolve, resolve_known

    if is_cid_path(text):
        return check_input(text)
    from codsh.client.api import ApiClient

    api = ApiClient.from_env()
    if api is not None:
        return check_input(str(api.call("GET", "/v1/resolve?" + urlencode({"path": text}))["cid"]))
    with NameStore() as names:
        known = resolve_known(names, text)
        if known is not None:
            return known
        from codsh.commands.settings import Settings, run_async

        settings = click.get_current_context().find_object(Settings) or Settings(None)

        async def through_kubo() -> str:
            async with settings.kubo() as ipfs:
                return await resolve(ipfs, names, text)

        return run_async(through_kubo)
