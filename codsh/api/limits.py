"""What one user may ask of the orchestrator: jobs at once and files per job (HTTP 429 past
either). A token may carry its own limits (`codsh serve token add NAME --max-files N`); without,
the orchestrator's defaults (`codsh serve --max-running/--max-files`) apply.

The files are counted while the input is listed at submit, before anything is recorded or run, so
a refused job leaves no trace; the listing is then the job's own (it is not listed twice)."""

from __future__ import annotations

from codsh.api.tokens import User
from codsh.errors import CodshError
from codsh.inputs import InputTree, KeptLookup, TooManyListed, list_input
from codsh.ipfs.client import KuboClient

DEFAULT_MAX_FILES = 100_000  # files per job unless a token or `--max-files` says otherwise


class OverLimit(CodshError):
    """A request past one of its user's limits (HTTP 429)."""


class TooManyJobs(OverLimit):
    """A user has as many jobs running as they may."""


class TooManyFiles(OverLimit):
    """A job's input has more files than its user may run in one job."""


def running_limit(user: User, default: int) -> int:
    return user.max_running or default


def check_running(user: User, running: int, default: int) -> None:
    """A TooManyJobs when `user`, with `running` jobs running now, may not start another."""
    most = running_limit(user, default)
    if running >= most:
        raise TooManyJobs(
            f"{user.name} has {running} jobs running, the most {user.name}'s token allows "
            f"({most} at once)",
            "wait for one to end (`codsh job wait ID`), or cancel one",
        )


async def list_within(
    ipfs: KuboClient,
    path: str,
    find_timeout: float,
    user: User,
    default: int,
    kept: KeptLookup | None = None,
) -> InputTree:
    """The files and folders of input `path` (as inputs.list_input lists them, `kept` too), or a
    TooManyFiles naming the limit and the count when it has more than `user` may run at once
    (a kept folder's files count)."""
    most = user.max_files or default
    try:
        return await list_input(ipfs, path, find_timeout, kept, most)
    except TooManyListed as exc:
        raise TooManyFiles(
            f"{path} has {exc}, more than the {most} files per job "
            f"{user.name}'s token allows: nothing was run",
            "run it in parts (e.g. over each folder of it), or ask the orchestrator's operator "
            f"for a higher limit (`codsh serve token limits {user.name} --max-files N`)",
        ) from None
