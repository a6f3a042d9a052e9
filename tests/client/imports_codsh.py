"""A function whose module imports codsh at its top: refused at submit (nodes lack codsh)."""

from __future__ import annotations

from typing import IO

import codsh  # noqa: F401


def identity(infile: IO[bytes]) -> bytes:
    return infile.read()
