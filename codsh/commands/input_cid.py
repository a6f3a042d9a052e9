"""The input CID of a command: from its flag or argument, else piped on stdin (jobs chain like
shell pipes: `codsh add data/ | codsh run -e "grep x" | codsh cat`)."""

from __future__ import annotations

import sys

from codsh.core.spec import check_input
from codsh.errors import InputError


def read_input_cid(cid: str | None) -> str:
    """`-c CID`, else a CID piped on stdin (so jobs chain like shell pipes)."""
    if cid:
        return check_input(cid)
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
    return check_input(words[0])
