"""An SDK client waiting on a job while the orchestrator is killed and started again: `result()`
and `events()` reconnect and see the resumed job's end (real `codsh serve` processes)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import codsh
from codsh.jobs.store import JobStore
from tests.api.conftest import Orchestrator
from tests.api.test_restart import COMMAND, FILES, Serve, serve  # noqa: F401  (the fixture)
from tests.commands.cli import write_tree


class Waiter(threading.Thread):
    """Calls `fn` in a thread of its own; what it returned, or raised."""

    def __init__(self, fn: Any) -> None:
        super().__init__(daemon=True)
        self.fn = fn
        self.value: Any = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.value = self.fn()
        except BaseException as exc:
            self.error = exc


@pytest.mark.slow
def test_waiting_clients_reconnect_and_see_the_end(
    serve: tuple[Serve, Orchestrator],  # noqa: F811
    tmp_path: Path,
) -> None:
    server, api = serve
    client = codsh.connect(api.url, api.tokens["alice"])
    source = client.add(write_tree(tmp_path / "in", FILES))
    job = client.submit(COMMAND, source, slots=1, memo=False)
    result = Waiter(lambda: job.result(timeout=180))
    events = Waiter(lambda: list(job.events()))
    deadline = time.monotonic() + 60
    while True:
        with JobStore(api.home / "jobs.sqlite") as store:
            if len(store.results(job.id)) >= 2:
                break
        assert time.monotonic() < deadline, "no file was recorded"
        time.sleep(0.1)
    server.kill()
    time.sleep(1)  # the clients find nobody there
    port = api.url.rsplit(":", 1)[1]
    assert server.start(f"127.0.0.1:{port}") == api.url
    result.join(180)
    events.join(60)
    assert result.error is None and events.error is None, (result.error, events.error)
    assert result.value == job.result() and job.status() == "succeeded"
    assert events.value[-1]["event"] == "end" and events.value[-1]["output"] == result.value
