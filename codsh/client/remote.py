"""The SDK through the orchestrator's API: jobs run where the orchestrator runs them, data goes
through its kubo. A wait follows the job's event stream (no polling) and reconnects when the stream
drops (the orchestrator restarted), so a waiting client sees the end of a job that was resumed."""

from __future__ import annotations

import http.client
import os
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from codsh.client.api import ApiClient, ApiError, read_all
from codsh.client.backend import end_event
from codsh.errors import CodshError, InputError, ServiceUnavailable
from codsh.jobs.states import RUNNING

if TYPE_CHECKING:
    from codsh.core.spec import JobSpec
    from codsh.images.python import PipTarget

RETRY = 0.5  # seconds between tries while the orchestrator does not answer
NODE_PYTHON = "3.11"  # codsh/python's interpreter (Debian bookworm), for checking a script's syntax
DROPPED = (ServiceUnavailable, OSError, http.client.HTTPException)  # OSError: TimeoutError too


class StreamingApi(ApiClient):
    """The API client, with an event stream that gives up at a deadline."""

    def events_until(self, job_id: str, deadline: float | None) -> Iterator[dict[str, Any]]:
        """Job `job_id`'s events until its `end`, the stream's end, or `deadline` (TimeoutError)."""
        return self.events(job_id, deadline)


class Remote:
    """A Backend on the orchestrator at `url`."""

    def __init__(self, url: str, token: str, ca: str | None = None) -> None:
        """`ca`: the CA file that signed an https orchestrator's certificate (else CODSH_CA)."""
        self.api = StreamingApi(url, token, ca=ca or os.environ.get("CODSH_CA") or None)
        self.where = self.api.url

    def submit(self, spec: JobSpec, name: str | None) -> dict[str, Any]:
        return self.api.submit(asdict(spec), name)

    def pipe(
        self, first: JobSpec, stages: list[str], fuse: bool, name: str | None
    ) -> dict[str, Any]:
        body = {k: v for k, v in asdict(first).items() if k != "command"}
        body |= {"stages": stages, "fuse": fuse, **({"name": name} if name else {})}
        return dict(self.api.call("POST", "/v1/pipes", body))

    def record(self, job_id: str) -> dict[str, Any]:
        try:
            return self.api.job(job_id)
        except ApiError as exc:
            if exc.status == 404:
                raise InputError(exc.message, exc.hint) from None
            raise

    def records(self, limit: int, name: str | None) -> list[dict[str, Any]]:
        return self.api.jobs(limit, name)

    def wait(self, job_id: str, deadline: float | None) -> dict[str, Any] | None:
        while True:
            try:
                record = self.record(job_id)
                if record["state"] != RUNNING:
                    return record
                ended = any(
                    e.get("event") == "end" for e in self.api.events_until(job_id, deadline)
                )
                if not ended:  # the stream dropped: try again
                    raise ServiceUnavailable("the event stream ended early")
            except TimeoutError:
                return None
            except ApiError as exc:
                if exc.status < 500:
                    raise
            except DROPPED:
                pass
            if deadline is not None and time.monotonic() + RETRY > deadline:
                return None
            time.sleep(RETRY)  # also after an `end` that says running (resumed after a restart)

    def events(self, job_id: str) -> Iterator[dict[str, Any]]:
        while True:
            try:
                for event in self.api.events_until(job_id, None):
                    if event.get("event") != "end":
                        yield event
                    elif event.get("state") != RUNNING:  # else: resumed after a restart
                        yield event
                        return
            except ApiError as exc:
                if exc.status < 500:
                    raise
            except DROPPED:
                pass
            time.sleep(RETRY)
            record = self._answer(job_id)  # did it end while the stream was down?
            if record is not None and record["state"] != RUNNING:
                yield end_event(record)
                return

    def _answer(self, job_id: str) -> dict[str, Any] | None:
        """The job's record, or None while the orchestrator does not answer."""
        try:
            return self.record(job_id)
        except ApiError as exc:
            if exc.status < 500:
                raise
        except DROPPED:
            pass
        return None

    def cancel(self, job_id: str) -> bool:
        try:
            self.api.cancel(job_id)
        except ApiError as exc:
            if exc.status == 409:  # not running
                return False
            raise
        self.wait(job_id, time.monotonic() + 30)
        return True

    def add(self, path: Path) -> str:
        name = path.resolve().name
        added = self.api.add([path])
        return next(entry["cid"] for entry in added if entry["name"] == name)

    def read(self, path: str, limit: int | None = None) -> bytes:
        if limit is None:
            return read_all(self.api.cat(path))
        chunks: list[bytes] = []
        size = 0
        for chunk in self.api.cat(path):  # a generator: closed (the connection too) when left
            size += len(chunk)
            if size > limit:
                raise InputError(f"{path} is larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def image_digest(self, image: str) -> str:
        return ""  # the orchestrator pins the image by its own engine's ID

    def resolve(self, text: str) -> str:
        from urllib.parse import urlencode

        return str(self.api.call("GET", "/v1/resolve?" + urlencode({"path": text}))["cid"])

    def pip_target(self, image: str, for_requirements: bool) -> PipTarget:
        """The tags from a local codsh/python image when there is one (the same recipe, so the
        same interpreter as the nodes'), else the orchestrator's; without requirements only the
        version matters."""
        from codsh.images.python import PipTarget, pip_target

        try:
            from codsh.executor.container import docker_client

            return pip_target(docker_client(), image)
        except CodshError as exc:
            if not for_requirements:
                return PipTarget(NODE_PYTHON, "cp" + NODE_PYTHON.replace(".", ""), ())
            here = exc
        try:  # no such image (or no Docker) here: the orchestrator's
            tags = self.api.call("GET", f"/v1/images/pip-target?{urlencode({'image': image})}")
        except ApiError as exc:
            raise InputError(
                "requirements are resolved here into wheels for the nodes' interpreter, whose "
                f"tags are read from the {image} image: not here ({here.message}), nor on the "
                f"orchestrator ({exc.message})",
                "build it (`codsh images build python`), or pack the function on a machine "
                "that has it (`codsh fn pack DIR`) and submit 'bundle:CID'",
            ) from None
        return PipTarget(str(tags["python"]), str(tags["abi"]), tuple(tags["platforms"]))
