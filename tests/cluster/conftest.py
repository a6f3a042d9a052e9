"""A 3-node devstack per test module: real kubo daemons, a Dask scheduler and three codsh nodes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codsh import devstack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[devstack.NodeStatus]]:
    home = tmp_path_factory.mktemp("cluster-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CODSH_HOME", str(home))
        try:
            yield devstack.up(3)
        finally:
            devstack.down(purge=True)
