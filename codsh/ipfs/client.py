"""Async kubo RPC client: streaming both ways, kubo's own error messages kept.

Every call is a POST to /api/v0/<command>. Bodies of `add` are streamed with our multipart encoder;
`cat` yields the bytes as they arrive, in pieces as large as the socket reads (reading.py: kubo
writes ~4 KiB HTTP chunks, and handing each on alone was a shard's bottleneck). Not
ipfshttpclient: it is synchronous and refuses kubo >= 0.8.

The transport is httpcore (httpx's own connection layer) used directly: codsh needs none of httpx's
client features (cookies, redirects, auth, URL merging), and skipping them halves the per-request
cost, which matters when a job makes a request per input file.

kubo reports a failure that happens after it sent its 200 only in an HTTP trailer, which neither
httpx nor httpcore exposes. So listings are not streamed (failures then come as a 500) and callers
that stream file bytes check the byte count against the size they expect.

`add` is the exception to httpcore: kubo answers it while it still reads the body, and httpcore
reads only once it has sent everything, so a large add deadlocked with kubo. It goes through
adding.py and duplex.py (send and read at once, a bounded wait on kubo, trailers read).

(Past 400 lines on purpose: one method per kubo call, each a few lines; split by call family it
would scatter the one transport and error mapping every call shares.)
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlencode, urlsplit

import httpcore
import trio

from codsh.ipfs import adding, multipart
from codsh.ipfs.adding import AddResult as AddResult
from codsh.ipfs.adding import Sent, stall_seconds
from codsh.ipfs.duplex import Lost, Unreachable
from codsh.ipfs.multipart import AddEntry
from codsh.ipfs.reading import Body, Reader
from codsh.ipfs.sources import disk_entries, once
from codsh.ipfs.wire import LOST_HINT, Lines, error_message
from codsh.ipfs.wire import START_HINT as START_HINT
from codsh.ipfs.wire import KuboError as KuboError
from codsh.ipfs.wire import KuboStalled as KuboStalled
from codsh.ipfs.wire import KuboUnavailable as KuboUnavailable

Params = dict[str, str] | tuple[tuple[str, str], ...] | None
CANONICAL_CHUNKER = "size-262144"
MAX_ERROR = 64 * 1024  # bytes of an error answer read


@dataclass(frozen=True)
class Entry:
    """One node of a listed tree: `path` is relative to the listed root ('' for a file root)."""

    path: str
    cid: str
    size: int
    is_dir: bool


# Which of a directory's subdirectories (given as entries) a walk leaves out, by path
Prune = Callable[[list[Entry]], Awaitable[set[str]]]


@dataclass(frozen=True)
class AddOptions:
    """The add options codsh uses; the defaults are canonical: same bytes give the same CID anywhere."""

    cid_version: int = 1
    raw_leaves: bool = True
    pin: bool = True
    only_hash: bool = False
    wrap: bool = False
    chunker: str = CANONICAL_CHUNKER

    def params(self) -> dict[str, str]:
        return {
            "cid-version": str(self.cid_version),
            "raw-leaves": _flag(self.raw_leaves),
            "pin": _flag(self.pin),
            "only-hash": _flag(self.only_hash),
            "wrap-with-directory": _flag(self.wrap),
            "chunker": self.chunker,
            "progress": "false",
        }


def _flag(value: bool) -> str:
    return "true" if value else "false"


class KuboClient:
    """One connection pool to one kubo API. Use as `async with KuboClient(url) as ipfs:` (its
    nursery runs the adds `add_stream` yields from). `stall`: see `stall_seconds`."""

    def __init__(
        self, api_url: str, *, connect_timeout: float = 5.0, stall: float | None = None
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._base = self.api_url + "/api/v0/"
        self._host = urlsplit(self.api_url).netloc.encode()
        self._timeouts = {"connect": connect_timeout}
        self._adds = adding.Kubo(
            self.api_url, stall_seconds() if stall is None else stall, connect_timeout, self.version
        )
        self._pool = httpcore.AsyncConnectionPool(max_connections=64, max_keepalive_connections=16)
        parts = urlsplit(self.api_url)
        self._reader = Reader(parts.scheme, parts.hostname or "", parts.port, connect_timeout)
        self._tasks: AbstractAsyncContextManager[trio.Nursery] | None = None
        self._nursery: trio.Nursery | None = None

    async def __aenter__(self) -> Self:
        self._tasks = trio.open_nursery()
        self._nursery = await self._tasks.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._tasks is not None and self._nursery is not None:
                self._nursery.cancel_scope.cancel()  # adds nobody reads any more
                # the body's exception (if any) is not the nursery's: it propagates as it is
                await self._tasks.__aexit__(None, None, None)
        finally:
            self._tasks = self._nursery = None
            await self.aclose()

    async def aclose(self) -> None:
        await self._pool.aclose()
        await self._reader.aclose()

    # -- transport ---------------------------------------------------------------------------

    @asynccontextmanager
    async def _stream(
        self,
        command: str,
        params: Params = None,
        content: AsyncIterator[bytes] | bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> AsyncIterator[httpcore.Response]:
        url = self._base + command + ("?" + urlencode(params) if params else "")
        head = [(b"Host", self._host)]
        head += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        if isinstance(content, bytes):
            head.append((b"Content-Length", str(len(content)).encode()))
        else:
            head.append((b"Transfer-Encoding", b"chunked"))
        try:
            async with self._pool.stream(
                "POST", url, headers=head, content=content, extensions={"timeout": self._timeouts}
            ) as response:
                if response.status != 200:
                    raise KuboError(command, error_message(response.status, await response.aread()))
                yield response
        except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
            raise KuboUnavailable(
                f"kubo does not answer at {self.api_url} ({type(exc).__name__}: {exc})", START_HINT
            ) from exc
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise KuboUnavailable(
                f"lost the connection to kubo at {self.api_url} during {command} ({exc})", LOST_HINT
            ) from exc

    @asynccontextmanager
    async def _body(self, command: str, params: Params) -> AsyncIterator[Body]:
        """A request without a body whose answer is read in large pieces (reading.py): for file
        bytes, which kubo sends in ~4 KiB chunks."""
        target = urlsplit(self._base).path + command + ("?" + urlencode(params) if params else "")
        try:
            async with self._reader.post(target) as body:
                if body.head.status != 200:
                    message = error_message(body.head.status, await body.read(MAX_ERROR))
                    raise KuboError(command, message)
                yield body
        except Unreachable as exc:
            raise KuboUnavailable(
                f"kubo does not answer at {self.api_url} ({exc})", START_HINT
            ) from exc
        except Lost as exc:
            raise KuboUnavailable(
                f"lost the connection to kubo at {self.api_url} during {command} ({exc})", LOST_HINT
            ) from exc

    async def _json(
        self,
        command: str,
        params: Params = None,
        content: AsyncIterator[bytes] | bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> Any:
        async with self._stream(command, params, content, headers) as response:
            body = await response.aread()
        return json.loads(body) if body.strip() else None

    async def _ndjson(
        self,
        command: str,
        params: Params = None,
        content: AsyncIterator[bytes] | bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> AsyncIterator[Any]:
        items: list[Any] = []
        lines = Lines(command, items.append)
        async with self._pieces(command, params, content, headers) as pieces:
            async for piece in pieces:
                lines.feed(piece)
                for item in items:
                    yield item
                items.clear()
            lines.end()
            for item in items:
                yield item

    @asynccontextmanager
    async def _pieces(
        self,
        command: str,
        params: Params,
        content: AsyncIterator[bytes] | bytes,
        headers: dict[str, str] | None,
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """An answer's body as it arrives; without a request body, in the large pieces of
        `_body` (a listing of 10,000s of lines came one ~line-sized HTTP chunk at a time)."""
        if content == b"" and not headers:
            async with self._body(command, params) as body:
                yield body.pieces()
        else:
            async with self._stream(command, params, content, headers) as response:
                yield response.aiter_stream()

    # -- node ------------------------------------------------------------------------------

    async def version(self) -> str:
        return str((await self._json("version"))["Version"])

    async def id(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("id")
        return result

    # -- add -------------------------------------------------------------------------------

    async def add(
        self,
        entries: Iterable[AddEntry] | AsyncIterable[AddEntry],
        options: AddOptions = AddOptions(),
        *,
        on_sent: Sent | None = None,
    ) -> list[AddResult]:
        """Add files and directories in one request streamed both ways (adding.py); results in
        kubo's order. `on_sent(files, bytes)` follows the body as it goes out."""
        results: list[AddResult] = []
        await adding.add(self._adds, options.params(), entries, results.append, on_sent)
        return results

    async def add_stream(
        self,
        entries: Iterable[AddEntry] | AsyncIterable[AddEntry],
        options: AddOptions = AddOptions(),
        *,
        on_sent: Sent | None = None,
        linger: float = 0.0,
    ) -> AsyncIterator[AddResult]:
        """Like `add`, but yields each result as soon as kubo reports it (the request runs in
        the client's nursery; without one, outside `async with`, once all are in). `linger`:
        how long a small write of the body waits for more (parts that trickle in)."""
        if self._nursery is None:
            for result in await self.add(entries, options, on_sent=on_sent):
                yield result
            return

        async def run(deliver: adding.Deliver) -> None:
            await adding.add(self._adds, options.params(), entries, deliver, on_sent, linger)

        async for result in adding.stream(self._nursery, run):
            yield result

    async def add_bytes(self, data: bytes, options: AddOptions = AddOptions()) -> AddResult:
        return (await self.add([AddEntry("data", once(data))], options))[-1]

    async def add_paths(
        self, paths: Iterable[Path], options: AddOptions = AddOptions()
    ) -> list[AddResult]:
        """Add files or directory trees from disk; the last result of each top-level path is its root."""
        return await self.add(disk_entries(paths), options)

    # -- read ------------------------------------------------------------------------------

    async def cat(
        self, path: str, offset: int | None = None, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream the bytes of a UnixFS file (optionally a range of it)."""
        params = {"arg": path}
        if offset is not None:
            params["offset"] = str(offset)
        if length is not None:
            params["length"] = str(length)
        async with self._body("cat", params) as body:
            async for chunk in body.pieces():
                yield chunk

    async def cat_many(self, paths: Sequence[str], total: int) -> AsyncGenerator[bytes, None]:
        """The bytes of many UnixFS files, one after the other, in one request (~0.2 ms a file
        against ~1.4 ms for a request each). kubo resolves every path before the first byte and
        says how many bytes it will send; that must be `total`, the sizes the caller cuts by."""
        async with self._body("cat", tuple(("arg", path) for path in paths)) as body:
            length = body.head.headers.get("x-content-length")
            if length is not None and int(length) != total:
                raise KuboError(
                    "cat", f"kubo would send {int(length)} bytes, not the {total} listed"
                )
            async for chunk in body.pieces():
                yield chunk

    async def ls(self, path: str, timeout: str | None = None) -> list[Entry]:
        """One level of a directory (HAMT-sharded ones included); paths are the link names.

        Not streamed: kubo reports a failure after its first streamed line only in an HTTP trailer,
        which the client cannot read, so a streamed listing could end short without an error.
        """
        params = {"arg": path, "resolve-type": "true", "size": "true", "stream": "false"}
        if timeout:
            params["timeout"] = timeout
        entries = []
        async for item in self._ndjson("ls", params):
            for obj in item.get("Objects", []):
                for link in obj.get("Links", []):
                    entries.append(
                        Entry(
                            path=link["Name"],
                            cid=link["Hash"],
                            size=int(link.get("Size", 0)),
                            is_dir=link.get("Type") in (1, 5),
                        )
                    )
        return entries

    async def stat(self, path: str, timeout: str | None = None) -> Entry:
        """What `path` is: a file (with its byte size) or a directory. Uses MFS stat on /ipfs paths."""
        ipfs_path = path if path.startswith("/ipfs/") else f"/ipfs/{path}"
        params = {"arg": ipfs_path}
        if timeout:
            params["timeout"] = timeout
        info = await self._json("files/stat", params)
        kind = info.get("Type")
        return Entry(
            path="",
            cid=info["Hash"],
            size=int(info.get("Size", 0)),
            is_dir=kind == "directory",
        )

    async def walk(
        self, path: str, timeout: str | None = None, prune: Prune | None = None
    ) -> AsyncIterator[Entry]:
        """Every file and directory under `path` with relative paths, in input path order: depth
        first, names sorted bytewise, each directory right before its contents. `prune`, given
        a directory's subdirectories, says (by path) which not to walk into.

        A file root yields one entry with path ''.
        """
        root = await self.stat(path, timeout)
        if not root.is_dir:
            yield root
            return
        async for entry in self._walk_dir("", root.cid, timeout, prune):
            yield entry

    async def _walk_dir(
        self, prefix: str, cid: str, timeout: str | None, prune: Prune | None
    ) -> AsyncIterator[Entry]:
        children = []
        for child in sorted(await self.ls(cid, timeout), key=lambda e: e.path.encode()):
            rel = posixpath.join(prefix, child.path) if prefix else child.path
            children.append(Entry(rel, child.cid, child.size, child.is_dir))
        folders = [child for child in children if child.is_dir]
        skipped = await prune(folders) if prune is not None and folders else set()
        for child in children:
            yield child
            if child.is_dir and child.path not in skipped:
                async for entry in self._walk_dir(child.path, child.cid, timeout, prune):
                    yield entry

    # -- blocks and DAGs -------------------------------------------------------------------

    async def dag_stat(self, cid: str, offline: bool = False) -> dict[str, int]:
        """Total size and block count of the DAG under `cid`; `offline`: from this kubo alone
        (a block it lacks is a KuboError), so an answer says it has the whole DAG."""
        params = {"arg": cid, "progress": "false", "offline": _flag(offline)}
        result = await self._json("dag/stat", params)
        if not result:  # kubo 0.42 fails on an empty file after the 200 (NaN ratio), body empty
            raise KuboError("dag/stat", f"kubo answered without statistics for {cid}")
        stats = result.get("DagStats", [result])[0]
        return {"size": int(stats.get("Size", 0)), "blocks": int(stats.get("NumBlocks", 0))}

    async def dag_get(self, cid: str, timeout: str | None = None) -> Any:
        """One node as dag-json; a dag-pb node is {"Data": {"/": {"bytes": base64}}, "Links":
        [{"Hash": {"/": cid}, "Name": name, "Tsize": size}]}. Waits at most `timeout` for it."""
        params = {"arg": cid, "output-codec": "dag-json"}
        if timeout:
            params["timeout"] = timeout
        return await self._json("dag/get", params)

    async def block_stat(
        self, cid: str, offline: bool = True, timeout: str | None = None
    ) -> int | None:
        """Size of a block if this node can get it (only from its own store when offline), else None.

        Online, kubo waits for a provider as long as it is allowed to: give a `timeout` ("10s")."""
        params = {"arg": cid, "offline": _flag(offline)}
        if timeout:
            params["timeout"] = timeout
        try:
            result = await self._json("block/stat", params)
        except KuboError as exc:
            message = exc.kubo_message
            if "not found" in message or "offline" in message or "deadline" in message:
                return None
            raise
        return int(result["Size"])

    async def has_block(self, cid: str) -> bool:
        return await self.block_stat(cid, offline=True) is not None

    async def block_put(self, data: bytes, codec: str = "dag-pb", pin: bool = False) -> str:
        params = {"cid-codec": codec, "mhtype": "sha2-256", "pin": _flag(pin)}
        result = await self._json("block/put", params, *_single_part(data))
        return str(result["Key"])

    async def block_put_many(self, blocks: Sequence[bytes], codec: str = "dag-pb") -> list[str]:
        """Store `blocks` in one request (kubo's block put takes many files), in order; ~0.5 ms
        a block against ~2 ms for a request each (codsh/ipfs/blocks.py batches them)."""
        boundary = multipart.new_boundary()
        body = b"".join(
            multipart.part_header(boundary, "data", False) + b + b"\r\n" for b in blocks
        )
        headers = {"Content-Type": multipart.content_type(boundary)}
        params = {"cid-codec": codec, "mhtype": "sha2-256", "pin": "false"}
        content = body + multipart.closing(boundary)
        return [
            str(item["Key"]) async for item in self._ndjson("block/put", params, content, headers)
        ]

    async def dag_put(
        self, node: dict[str, Any], store_codec: str = "dag-pb", pin: bool = False
    ) -> str:
        """Store a dag-json document as `store_codec` (dag-pb for UnixFS nodes); returns its CID."""
        params = {"store-codec": store_codec, "input-codec": "dag-json", "pin": _flag(pin)}
        data = json.dumps(node).encode()
        result = await self._json("dag/put", params, *_single_part(data))
        return str(result["Cid"]["/"])

    async def pin_add(self, *cids: str, timeout: str | None = None, recursive: bool = True) -> None:
        """Pin `cids`, in one request (recursively: kubo fetches what it lacks, for at most
        `timeout` when given; directly: only that block, which must be here)."""
        if not cids:
            return
        params = (
            *(("arg", cid) for cid in cids),
            ("progress", "false"),
            ("recursive", _flag(recursive)),
            *((("timeout", timeout),) if timeout else ()),
        )
        try:
            await self._json("pin/add", params)
        except KuboError as exc:
            if "already pinned recursively" not in exc.kubo_message:
                raise
            # a direct pin of something pinned recursively already: that one is pinned; the
            # request stopped there, so pin the others one by one
            if len(cids) > 1:
                for cid in cids:
                    await self.pin_add(cid, timeout=timeout, recursive=recursive)

    async def pin_ls(self, cid: str | None = None, kind: str = "all") -> dict[str, str]:
        """Pinned CIDs with their pin type; with `cid`, only that one (empty when not pinned);
        `kind`: all, recursive, direct or indirect (all walks every pinned DAG: slow)."""
        params = {"type": kind, "stream": "true"}
        if cid:
            params["arg"] = cid
        pins: dict[str, str] = {}
        try:
            async for item in self._ndjson("pin/ls", params):
                pins[item["Cid"]] = item["Type"]
        except KuboError as exc:
            if cid and "not pinned" in exc.kubo_message:
                return {}
            raise
        return pins

    async def refs(self, cid: str | None = None) -> AsyncIterator[str]:
        """The blocks under `cid` from this kubo alone (offline: a missing one is a KuboError);
        without `cid`, every block it stores (`refs local`)."""
        command, params = ("refs/local", None) if cid is None else ("refs", _refs_of(cid))
        async for item in self._ndjson(command, params):
            if item.get("Err"):
                raise KuboError(command, str(item["Err"]))
            yield str(item["Ref"])

    async def links(self, cids: Sequence[str]) -> AsyncIterator[str]:
        """The blocks `cids` link to directly, from this kubo alone (a missing one is a
        KuboError), in one request."""
        params = (*(("arg", cid) for cid in cids), ("unique", "true"), ("offline", "true"))
        async for item in self._ndjson("refs", params):
            if item.get("Err"):
                raise KuboError("refs", str(item["Err"]))
            yield str(item["Ref"])

    # -- swarm -----------------------------------------------------------------------------

    async def swarm_connect(self, address: str) -> None:
        """Connect to a peer by multiaddr (ending in /p2p/<peer ID>)."""
        await self._json("swarm/connect", {"arg": address})

    async def swarm_peers(self) -> list[str]:
        """Peer IDs this node is connected to (once each, however many connections it has)."""
        result = await self._json("swarm/peers")
        return sorted({peer["Peer"] for peer in (result or {}).get("Peers") or []})

    async def bitswap_received(self) -> int:
        """Bytes this node has received from peers over bitswap since it started."""
        result = await self._json("stats/bitswap")
        return int(result.get("DataReceived", 0))

    # -- MFS -------------------------------------------------------------------------------

    async def files_mkdir(self, path: str) -> None:
        await self._json("files/mkdir", {"arg": path, "parents": "true", "cid-version": "1"})

    async def files_cp(self, source: str, dest: str) -> None:
        await self._json("files/cp", (("arg", source), ("arg", dest), ("parents", "true")))

    async def files_stat(self, path: str, timeout: str | None = None) -> dict[str, Any]:
        """kubo's stat of an MFS or /ipfs/ path: Hash, Type, Size, CumulativeSize (the DAG size).

        On /ipfs/ paths it reads only the blocks down to the target, none of its children."""
        params = {"arg": path}
        if timeout:
            params["timeout"] = timeout
        result: dict[str, Any] = await self._json("files/stat", params)
        return result


def _single_part(data: bytes) -> tuple[bytes, dict[str, str]]:
    boundary = multipart.new_boundary()
    body = multipart.part_header(boundary, "data", False) + data + b"\r\n"
    return body + multipart.closing(boundary), {"Content-Type": multipart.content_type(boundary)}


def _refs_of(cid: str) -> dict[str, str]:
    return {"arg": cid, "recursive": "true", "unique": "true", "offline": "true"}
