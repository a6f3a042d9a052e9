"""Data through the orchestrator's kubo, so a user without an IPFS node can add inputs and read
outputs: POST /v1/add (a tar stream of files and folders), GET /v1/ls/CID[/path], GET
/v1/cat/CID[/path] (streamed). Added with codsh's canonical options: the CIDs a local add gives."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import trio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from codsh.core.spec import check_input
from codsh.errors import InputError
from codsh.inputs import entry_dict, list_entries, stat_input
from codsh.ipfs.client import AddOptions, KuboClient

if TYPE_CHECKING:
    from codsh.api.app import Api

MAX_UPLOAD = 8 * 1024**3  # bytes of one upload (the tar stream)


def routes(api: Api) -> list[Route]:
    data = Data(api)
    return [
        Route("/v1/add", api.authed(data.add), methods=["POST"]),
        Route("/v1/ls/{path:path}", api.authed(data.ls)),
        Route("/v1/cat/{path:path}", api.authed(data.cat)),
    ]


class Data:
    def __init__(self, api: Api) -> None:
        self.ipfs_api = api.service.ipfs_api

    async def add(self, request: Request, user: object) -> Response:
        """Unpack the uploaded tar in a scratch folder, add each top-level entry; name -> CID."""
        with tempfile.TemporaryDirectory(prefix="codsh-upload-") as tmp:
            root = Path(tmp)
            archive = root / "upload.tar"
            size = 0
            with archive.open("wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > MAX_UPLOAD:
                        raise InputError(
                            f"the upload is larger than {MAX_UPLOAD} bytes",
                            "add it in parts, and join them with `codsh dataset new`",
                        )
                    out.write(chunk)
            names = await trio.to_thread.run_sync(unpack, archive, root / "files")
            async with KuboClient(self.ipfs_api) as ipfs:
                paths = [root / "files" / name for name in names]
                added = await ipfs.add_paths(paths, AddOptions()) if paths else []
        cids = {a.name: a.cid for a in added}
        return JSONResponse([{"name": n, "cid": cids[n]} for n in names if n in cids])

    async def ls(self, request: Request, user: object) -> Response:
        path = check_input(request.path_params["path"])
        recursive = bool(request.query_params.get("recursive"))
        async with KuboClient(self.ipfs_api) as ipfs:
            is_dir, entries = await list_entries(ipfs, path, recursive)
        return JSONResponse({"dir": is_dir, "entries": [entry_dict(e) for e in entries]})

    async def cat(self, request: Request, user: object) -> Response:
        path = check_input(request.path_params["path"])
        async with KuboClient(self.ipfs_api) as ipfs:
            root = await stat_input(ipfs, path)
        if root.is_dir:
            raise InputError(f"{path} is a directory", "list it with `codsh ls`")
        return StreamingResponse(
            self._bytes(path, root.size),
            media_type="application/octet-stream",
            headers={"Content-Length": str(root.size)},
        )

    async def _bytes(self, path: str, size: int) -> AsyncIterator[bytes]:
        async with KuboClient(self.ipfs_api) as ipfs:
            async for chunk in ipfs.cat(path):
                yield chunk


def unpack(archive: Path, dest: Path) -> list[str]:
    """Extract regular files and folders only (no links, devices, absolute or `..` paths);
    the top-level names, in order."""
    dest.mkdir()
    names: list[str] = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts
                if not parts or member.name.startswith("/") or ".." in parts:
                    raise InputError(f"the upload has a path outside it: {member.name!r}")
                if not (member.isfile() or member.isdir()):
                    raise InputError(f"{member.name!r} is not a file or a folder", "no links")
                target = dest.joinpath(*parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source = tar.extractfile(member)
                    assert source is not None
                    with source, target.open("wb") as out:
                        shutil.copyfileobj(source, out)
                if parts[0] not in names:
                    names.append(parts[0])
    except tarfile.TarError as exc:
        raise InputError(
            f"the upload is not a tar stream: {exc}", "send a tar of the paths"
        ) from exc
    return names
