"""User-facing errors: each says what happened and what to do, and carries its exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2


class CodshError(Exception):
    """An error the CLI prints as `error: <message>` plus a hint, then exits with `exit_code`."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class InputError(CodshError):
    """Bad input from the user: a malformed CID, an unknown path, an unparsable command."""


class ServiceUnavailable(CodshError):
    """A daemon codsh needs (kubo, Docker) does not answer."""


class InfrastructureError(CodshError):
    """Something below the user's command broke (container start, kubo write); may be retried."""

    exit_code = EXIT_FAILURES


def leaf(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """`exc` itself, or the first `kind` inside the exception groups trio nurseries raise."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = leaf(inner, kind)
            if found is not None:
                return found
    return None
