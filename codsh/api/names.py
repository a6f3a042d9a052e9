"""Stable names through the orchestrator: GET /v1/names (every name published here: a name is
shared, like the IPNS record it is) and GET /v1/resolve?path=NAME|/ipns/KEY (what `-c NAME`
asks before it submits, so the job records the CID it runs on)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from codsh.errors import InputError
from codsh.ipfs.client import KuboClient
from codsh.names import NameStore, resolve

if TYPE_CHECKING:
    from codsh.api.app import Api
    from codsh.api.tokens import User


def routes(api: Api) -> list[Route]:
    async def get_names(request: Request, user: User) -> Response:
        with NameStore() as names:
            return JSONResponse({"names": [name.as_dict() for name in names.all()]})

    async def get_resolve(request: Request, user: User) -> Response:
        path = request.query_params.get("path")
        if not path:
            raise InputError("no path to resolve", "GET /v1/resolve?path=NAME or /ipns/KEY")
        with NameStore() as names:
            async with KuboClient(api.service.ipfs_api) as ipfs:
                return JSONResponse({"path": path, "cid": await resolve(ipfs, names, path)})

    return [
        Route("/v1/names", api.authed(get_names)),
        Route("/v1/resolve", api.authed(get_resolve)),
    ]
