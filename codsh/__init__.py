"""codsh: run shell commands next to data on IPFS; every job turns a CID into a new CID.

The Python SDK (docs/sdk.md), loaded on first use so that `import codsh` (and the CLI) stays cheap:

    import codsh
    client = codsh.connect()                 # the orchestrator (CODSH_API), else this machine
    job = client.submit("grep rain", cid)
    print(job.result())                      # the output CID

`codsh.aio` is the same for trio and anyio code.
"""

from __future__ import annotations

__version__ = "0.1.0"

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from codsh import aio
    from codsh.client.sdk import (
        ALL_COMPLETED,
        FIRST_COMPLETED,
        Client,
        Failure,
        Job,
        JobFailed,
        as_completed,
        connect,
        wait,
    )
    from codsh.errors import CodshError

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "Client",
    "CodshError",
    "Failure",
    "Job",
    "JobFailed",
    "__version__",
    "aio",
    "as_completed",
    "connect",
    "wait",
]
_SDK = frozenset(__all__) - {"__version__", "aio", "CodshError"}


def __getattr__(name: str) -> Any:
    if name in _SDK:
        from codsh.client import sdk

        return getattr(sdk, name)
    if name == "CodshError":
        from codsh.errors import CodshError

        return CodshError
    if name == "aio":
        import importlib

        return importlib.import_module("codsh.aio")
    raise AttributeError(f"module 'codsh' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
