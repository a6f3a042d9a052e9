"""Functions the SDK tests submit: the nodes import this file, so it imports the standard
library only (a test module imports pytest, which the nodes do not have)."""

from __future__ import annotations

from typing import IO


def shout(infile: IO[bytes]) -> bytes:
    return infile.read().upper()


def fails_on_b(infile: IO[bytes]) -> bytes:
    data = infile.read()
    if data.startswith(b"b"):
        raise ValueError("no b here")
    return data


def greet(infile: IO[bytes]) -> str:
    import codsh_tiny  # type: ignore[import-not-found]  # from the requirements' wheel

    return str(codsh_tiny.hello()) + ": " + infile.read().decode()
