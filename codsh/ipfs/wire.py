"""What kubo sends back: its errors (kubo's own text kept) and answers of one JSON line per item."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

from codsh.errors import CodshError, ServiceUnavailable

START_HINT = "start one with `codsh devstack up` (then `eval $(codsh devstack env)`), or point --ipfs / CODSH_IPFS at a running kubo API"
LOST_HINT = "check that the daemon still runs (`codsh devstack status`), then retry"


class KuboError(CodshError):
    """kubo answered with an error; `message` is kubo's own text."""

    def __init__(self, command: str, message: str, hint: str = "") -> None:
        super().__init__(f"kubo {command}: {message}", hint)
        self.command = command
        self.kubo_message = message


class KuboUnavailable(ServiceUnavailable):
    """Nothing answers at the kubo API address."""


class KuboStalled(KuboUnavailable):
    """kubo stopped answering in the middle of an add (it took no byte and sent none)."""


def error_message(status: int, body: bytes) -> str:
    try:
        return str(json.loads(body).get("Message") or body.decode(errors="replace"))
    except (ValueError, AttributeError):
        return body.decode(errors="replace").strip() or f"HTTP {status}"


class Lines:
    """Splits a streamed answer into JSON lines, each to `handle` (kubo's error lines raise)."""

    def __init__(self, command: str, handle: Callable[[Any], None]) -> None:
        self._command = command
        self._handle = handle
        self._buffer = b""

    def feed(self, chunk: bytes) -> None:
        *lines, self._buffer = (self._buffer + chunk).split(b"\n")
        for line in lines:
            if line.strip():
                self._handle(item(self._command, line))

    def end(self) -> None:
        if self._buffer.strip():
            self._handle(item(self._command, self._buffer))
        self._buffer = b""


def item(command: str, line: bytes) -> Any:
    """One JSON line of an answer; kubo's `{"Type": "error"}` lines raise its message."""
    value = orjson.loads(line)
    if isinstance(value, dict) and value.get("Type") == "error":
        raise KuboError(command, str(value.get("Message", value)))
    return value
