"""What every command shares: the resolved global options, and running async code under trio."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from codsh.ipfs.address import default_api

if TYPE_CHECKING:
    from codsh.ipfs.client import KuboClient

T = TypeVar("T")


@dataclass
class Settings:
    """Options every command shares, resolved lazily so `--help` never touches a daemon."""

    ipfs: str | None

    def api_url(self) -> str:
        from codsh.devstack import first_node_repo

        return default_api(self.ipfs, first_node_repo())

    def kubo(self) -> KuboClient:
        from codsh.ipfs.client import KuboClient

        return KuboClient(self.api_url())


pass_settings = click.make_pass_decorator(Settings)


def run_async(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    import trio  # here, not at import: commands that never run async code do not pay for it

    return trio.run(fn, *args)
