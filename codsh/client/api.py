"""A client of the orchestrator's HTTP API, on the standard library only (http.client): the CLI
and the SDK use it when `CODSH_API` is set, and it costs a few milliseconds to import, so a job
submitted through the API starts as fast as a local one. Errors come back as CodshErrors with the
server's own message and hint."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from codsh.errors import CodshError, InputError, ServiceUnavailable

if TYPE_CHECKING:  # http.client and ssl cost ~50 ms to import: only a request needs them
    import http.client
    import ssl

CHUNK = 256 * 1024


class ApiError(CodshError):
    """The orchestrator refused a request; `status` is its HTTP status."""

    def __init__(self, status: int, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.status = status


class ApiClient:
    def __init__(self, url: str, token: str, timeout: float = 60.0, ca: str | None = None) -> None:
        """`ca`: the CA file (PEM) that signed an https orchestrator's certificate; without
        it, the system's store decides (CODSH_CA in from_env)."""
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(
                f"CODSH_API={url!r} is not an http(s) URL", "e.g. http://127.0.0.1:8765"
            )
        self.url = f"{parts.scheme}://{parts.netloc}"
        self._parts = parts
        self._token = token
        self._timeout = timeout
        self._ca = ca
        self._context: ssl.SSLContext | None = None

    @property
    def token(self) -> str:
        return self._token

    @property
    def ca(self) -> str | None:
        return self._ca

    @classmethod
    def from_env(cls) -> ApiClient | None:
        """The client `CODSH_API` and `CODSH_TOKEN` name, or None without CODSH_API."""
        url = os.environ.get("CODSH_API")
        if not url:
            return None
        token = os.environ.get("CODSH_TOKEN", "")
        if not token:
            raise InputError(
                "CODSH_API is set but CODSH_TOKEN is not",
                "set CODSH_TOKEN to your token (`eval $(codsh devstack env)` on a devstack)",
            )
        return cls(url, token, ca=os.environ.get("CODSH_CA") or None)

    def _connection(self, timeout: float | None = None) -> http.client.HTTPConnection:
        import http.client

        host, port, limit = self._parts.hostname or "", self._parts.port, timeout or self._timeout
        if self._parts.scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=limit, context=self._tls())
        return http.client.HTTPConnection(host, port, timeout=limit)

    def _tls(self) -> ssl.SSLContext:
        import ssl

        """Verify the orchestrator's certificate and name: against `ca`, or the system's store."""
        if self._context is None:
            try:
                self._context = ssl.create_default_context(cafile=self._ca)
            except (OSError, ssl.SSLError) as exc:
                raise InputError(
                    f"CODSH_CA={self._ca}: not a readable CA file ({exc})",
                    "give the PEM file of the CA that signed the orchestrator's certificate",
                ) from exc
        return self._context

    def _send(
        self,
        method: str,
        path: str,
        body: bytes | IO[bytes] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        import http.client
        import ssl

        connection = self._connection(timeout)
        all_headers = {"Authorization": f"Bearer {self._token}", **(headers or {})}
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
        except ssl.SSLCertVerificationError as exc:
            connection.close()
            raise InputError(
                f"the orchestrator at {self.url} is not trusted: {exc.verify_message}",
                f"CODSH_CA={self._ca} did not sign its certificate: check CODSH_API and CODSH_CA"
                if self._ca
                else "set CODSH_CA to the CA file (PEM) that signed its certificate "
                "(on a devstack `eval $(codsh devstack env)` sets it)",
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise self._unanswered(exc) from exc
        if response.status >= 400:
            text = response.read().decode("utf-8", errors="replace")
            connection.close()
            try:
                said = json.loads(text)
                message, hint = str(said.get("error", text)), str(said.get("hint", ""))
            except ValueError:
                message, hint = text.strip() or response.reason, ""
            raise ApiError(response.status, message, hint)
        return connection, response

    def _unanswered(self, exc: Exception) -> CodshError:
        """Why no HTTP answer came: often http to an https port (it closes the connection at
        once) or https to an http one (no TLS handshake); else the orchestrator is down."""
        import http.client
        import ssl

        https = self._parts.scheme == "https"
        dropped = isinstance(exc, http.client.RemoteDisconnected | http.client.BadStatusLine)
        if not https and dropped and self._speaks_tls():
            return InputError(
                f"the orchestrator at {self.url} serves https, not http",
                f"use CODSH_API=https://{self._parts.netloc} (and CODSH_CA=its CA's PEM file "
                "when a private CA signed it)",
            )
        if https and isinstance(exc, ssl.SSLError) and "WRONG_VERSION" in str(exc):
            return InputError(
                f"the orchestrator at {self.url} does not speak TLS ({exc.reason})",
                f"it may serve plain http: try CODSH_API=http://{self._parts.netloc}",
            )
        return ServiceUnavailable(
            f"the orchestrator at {self.url} does not answer ({exc})",
            "check CODSH_API, or start it (`codsh serve`, or `codsh devstack up`)",
        )

    def _speaks_tls(self) -> bool:
        """Whether the server at the URL's port completes a TLS handshake (unverified: this only
        tells an https port from an orchestrator that went away)."""
        import socket
        import ssl

        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        probe.check_hostname, probe.verify_mode = False, ssl.CERT_NONE
        address = (self._parts.hostname or "", self._parts.port or 80)
        try:
            with socket.create_connection(address, timeout=5) as raw, probe.wrap_socket(raw):
                return True
        except OSError:
            return False

    def call(self, method: str, path: str, body: object = None) -> Any:
        """One JSON request; its decoded answer."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        connection, response = self._send(method, path, data, headers)
        try:
            return json.loads(response.read())
        finally:
            connection.close()

    def submit(self, spec: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        return dict(self.call("POST", "/v1/jobs", {**spec, **({"name": name} if name else {})}))

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/v1/jobs/{quote(job_id, safe='')}"))

    def jobs(self, limit: int = 50, name: str | None = None) -> list[dict[str, Any]]:
        query = urlencode({"limit": limit, **({"name": name} if name else {})})
        return list(self.call("GET", f"/v1/jobs?{query}"))

    def cancel(self, job_id: str) -> dict[str, Any]:
        return dict(self.call("POST", f"/v1/jobs/{quote(job_id, safe='')}/cancel"))

    def resume(self, job_id: str) -> dict[str, Any]:
        """Resume a stopped job of yours on the orchestrator (its files done are kept)."""
        return dict(self.call("POST", f"/v1/jobs/{quote(job_id, safe='')}/resume"))

    def dataset(
        self,
        parts: dict[str, str],
        onto: str | None = None,
        replace: bool = False,
        find_timeout: float | None = None,
    ) -> dict[str, Any]:
        """A new dataset of `parts` (name -> CID[/path]), added to dataset `onto` when given:
        {"cid", "parts" (how many linked), "directories" (of those)}."""
        body: dict[str, Any] = {"parts": parts}
        if find_timeout is not None:
            body["find_timeout"] = find_timeout
        if onto is None:
            return dict(self.call("POST", "/v1/datasets", body))
        return dict(
            self.call("POST", f"/v1/datasets/{quote(onto)}/parts", body | {"replace": replace})
        )

    def events(self, job_id: str, deadline: float | None = None) -> Iterator[dict[str, Any]]:
        """A job's server-sent events until its end; past `deadline` (a time.monotonic() value)
        a TimeoutError. Without one, no limit between events (jobs are long)."""
        path = f"/v1/jobs/{quote(job_id, safe='')}/events"
        connection, response = self._send("GET", path, timeout=_left(deadline))
        try:
            for line in response:
                if line.startswith(b"data: "):
                    event = json.loads(line[6:])
                    yield event
                    if event.get("event") == "end":
                        return
                if deadline is not None:
                    if time.monotonic() >= deadline:
                        raise TimeoutError(f"job {job_id} did not end in time")
                    if connection.sock is not None:  # None: the response holds it (no keep-alive)
                        connection.sock.settimeout(_left(deadline))
        finally:
            connection.close()

    def add(self, paths: Sequence[Path]) -> list[dict[str, str]]:
        """Upload `paths` (files or folders) as one tar stream; each top-level name's CID."""
        import tarfile
        import tempfile

        with tempfile.TemporaryFile() as archive:
            with tarfile.open(fileobj=archive, mode="w") as tar:
                for path in paths:
                    tar.add(path, arcname=path.resolve().name)
            size = archive.tell()
            archive.seek(0)
            headers = {"Content-Type": "application/x-tar", "Content-Length": str(size)}
            connection, response = self._send("POST", "/v1/add", archive, headers, 3600.0)
        try:
            return list(json.loads(response.read()))
        finally:
            connection.close()

    def ls(self, path: str, recursive: bool = False) -> dict[str, Any]:
        """{"dir": whether `path` is a directory, "entries": [{path, cid, size, dir}]}."""
        query = "?recursive=1" if recursive else ""
        return dict(self.call("GET", f"/v1/ls/{quote(path)}{query}"))

    def cat(self, path: str) -> Iterator[bytes]:
        """A file's bytes, streamed; its whole length is checked (a cut stream is an error)."""
        connection, response = self._send("GET", f"/v1/cat/{quote(path)}", timeout=3600.0)
        expected = int(response.getheader("Content-Length") or -1)
        received = 0
        try:
            while chunk := response.read(CHUNK):
                received += len(chunk)
                yield chunk
        finally:
            connection.close()
        if expected >= 0 and received != expected:
            raise ServiceUnavailable(
                f"the orchestrator sent {received} of the {expected} bytes of {path}", "try again"
            )


def _left(deadline: float | None, forever: float = 3600.0) -> float:
    """Seconds until `deadline` (at least a millisecond), or `forever` without one."""
    return forever if deadline is None else max(0.001, deadline - time.monotonic())


def read_all(chunks: Iterator[bytes]) -> bytes:
    buffer = io.BytesIO()
    for chunk in chunks:
        buffer.write(chunk)
    return buffer.getvalue()
