"""Where the kubo RPC API is: `--ipfs`/`CODSH_IPFS` (multiaddr or URL), the devstack, or ~/.ipfs."""

from __future__ import annotations

import os
from pathlib import Path

from codsh.errors import InputError

DEFAULT_API = "http://127.0.0.1:5001"


def api_url(address: str) -> str:
    """Turn `/ip4/1.2.3.4/tcp/5001`, `/dns/host/tcp/5001`, `host:port` or a URL into a base URL."""
    address = address.strip()
    if address.startswith(("http://", "https://")):
        return address.rstrip("/")
    if address.startswith("/"):
        parts = address.strip("/").split("/")
        if (
            len(parts) >= 4
            and parts[0] in ("ip4", "ip6", "dns", "dns4", "dns6")
            and parts[2] == "tcp"
        ):
            host = f"[{parts[1]}]" if parts[0] == "ip6" else parts[1]
            scheme = "https" if "https" in parts[4:] or "tls" in parts[4:] else "http"
            return f"{scheme}://{host}:{parts[3]}"
        raise InputError(
            f"cannot use {address!r} as a kubo API address",
            "give a multiaddr like /ip4/127.0.0.1/tcp/5001 or a URL like http://127.0.0.1:5001",
        )
    if ":" in address:
        return f"http://{address}"
    raise InputError(
        f"cannot use {address!r} as a kubo API address",
        "give a multiaddr like /ip4/127.0.0.1/tcp/5001 or a URL like http://127.0.0.1:5001",
    )


def read_api_file(repo: Path) -> str | None:
    """kubo writes the address it listens on to `<repo>/api` while the daemon runs."""
    try:
        return api_url((repo / "api").read_text())
    except (OSError, InputError):
        return None


def default_api(explicit: str | None, devstack_repo: Path | None) -> str:
    """The API to use: explicit flag/env first, then a running devstack, then the user's own kubo."""
    if explicit:
        return api_url(explicit)
    candidates = [devstack_repo] if devstack_repo else []
    candidates.append(Path(os.environ.get("IPFS_PATH", Path.home() / ".ipfs")))
    for repo in candidates:
        url = read_api_file(repo)
        if url:
            return url
    return DEFAULT_API
