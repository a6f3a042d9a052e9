"""What the CLI tells the user on stderr: through rich (colour, markup, wrapping) on a terminal,
as plain lines otherwise. A piped or scripted run then never loads rich (~20-50 ms of a trivial
job's 0.3 s); its lines are what rich would print there, without the styles."""

from __future__ import annotations

import os
import re
import sys
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

# The styles the CLI's lines use; only these are markup here (a "[...]" in a path or a message
# stays as it is).
STYLE_TAG = re.compile(r"\[(?:/|/?(?:red|yellow|green|bold))\]")


class Stderr:
    @property
    def is_terminal(self) -> bool:
        """As rich decides it: TTY_COMPATIBLE=0/1 and FORCE_COLOR (https://force-color.org/)
        say so outright; else whether stderr is a TTY."""
        compatible = os.environ.get("TTY_COMPATIBLE", "")
        if compatible in ("0", "1"):
            return compatible == "1"
        force = os.environ.get("FORCE_COLOR")
        if force is not None:
            return force != ""
        try:
            return sys.stderr.isatty()
        except ValueError:  # closed (the end of a test run): no terminal any more
            return False

    def print(self, text: str, markup: bool = True) -> None:
        if self.is_terminal:
            console().print(text, markup=markup)
        else:
            sys.stderr.write(f"{STYLE_TAG.sub('', text) if markup else text}\n")
            sys.stderr.flush()


@cache
def console() -> Console:
    """The rich console on stderr (progress bars draw on it)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def decimal(size: int) -> str:
    """`size` bytes as rich's `filesize.decimal` writes them ("1 byte", "999 bytes", "1.2 MB")."""
    if size == 1:
        return "1 byte"
    if size < 1000:
        return f"{size:,} bytes"
    suffixes = ("kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
    at = next((i for i in range(len(suffixes)) if size < 1000 ** (i + 2)), len(suffixes) - 1)
    return f"{1000 * size / 1000 ** (at + 2):,.1f} {suffixes[at]}"


stderr = Stderr()
