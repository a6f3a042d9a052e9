"""Datasets through the orchestrator's kubo, so a user without an IPFS node can join CIDs into one
dataset: POST /v1/datasets {"parts": {NAME: "CID[/path]"}} and POST /v1/datasets/CID[/path]/parts
{"parts": {...}, "replace": bool}, each answered {"cid", "parts", "directories"}. The checks, the
messages and the CIDs are `codsh dataset new|add`'s (codsh/jobs/datasets.py does both): a part
NAME=CID is checked as the command-line argument `NAME=CID` would be, and is named so in errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from codsh.api.tokens import User
from codsh.core import dataset as ds
from codsh.core.spec import DEFAULT_FIND_TIMEOUT, check_input
from codsh.errors import InputError
from codsh.ipfs.client import KuboClient
from codsh.jobs.datasets import make

if TYPE_CHECKING:
    from codsh.api.app import Api

MAX_FIND_TIMEOUT = 600.0  # seconds a request may ask kubo to look for each part


def routes(api: Api) -> list[Route]:
    datasets = Datasets(api)
    return [
        Route("/v1/datasets", api.authed(datasets.new), methods=["POST"]),
        Route("/v1/datasets/{cid:path}/parts", api.authed(datasets.add), methods=["POST"]),
    ]


class Datasets:
    def __init__(self, api: Api) -> None:
        self.ipfs_api = api.service.ipfs_api

    async def new(self, request: Request, user: User) -> Response:
        return await self._make(request, None)

    async def add(self, request: Request, user: User) -> Response:
        return await self._make(request, check_input(request.path_params["cid"]))

    async def _make(self, request: Request, onto: str | None) -> Response:
        from codsh.api.app import read_body

        body = await read_body(request)
        if isinstance(body, Response):
            return body
        allowed = {"parts", "find_timeout"} | ({"replace"} if onto is not None else set())
        parts, find_timeout, replace = checked(body, allowed)
        async with KuboClient(self.ipfs_api) as ipfs:
            made = await make(ipfs, parts, find_timeout, onto, replace)
        answer = {"cid": made.cid, "parts": made.parts, "directories": made.directories}
        return JSONResponse(answer, 201)


def checked(body: Any, allowed: set[str]) -> tuple[list[ds.Part], float, bool]:
    """The request's parts (checked as `codsh dataset` checks its arguments), find timeout and
    replace flag; an InputError (400) says what is wrong."""
    if not isinstance(body, dict):
        raise InputError("the request must be a JSON object", 'e.g. {"parts": {"2016": "bafy..."}}')
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InputError(
            f"unknown field {unknown[0]!r} in the request", f"the fields are {', '.join(allowed)}"
        )
    given = body.get("parts", {})
    if not isinstance(given, dict) or not all(isinstance(v, str) for v in given.values()):
        raise InputError("parts must map names to CIDs", 'e.g. {"2016": "bafy...", "x": "Qm..."}')
    parts = [part(name, source) for name, source in given.items()]
    if not parts:
        raise InputError("no parts given", "name them as NAME=CID arguments or with --from-file")
    find_timeout = body.get("find_timeout", DEFAULT_FIND_TIMEOUT)
    if isinstance(find_timeout, bool) or not isinstance(find_timeout, int | float):
        raise InputError("find_timeout must be a number of seconds", f"e.g. {DEFAULT_FIND_TIMEOUT}")
    if not 0 < find_timeout <= MAX_FIND_TIMEOUT:
        raise InputError(
            f"find_timeout must be more than 0 and at most {MAX_FIND_TIMEOUT:g} seconds",
            f"e.g. {DEFAULT_FIND_TIMEOUT}",
        )
    replace = body.get("replace", False)
    if not isinstance(replace, bool):
        raise InputError("replace must be true or false", "true points existing names anew")
    return parts, float(find_timeout), replace


def part(name: str, source: str) -> ds.Part:
    """Part NAME=CID as the command line's argument `NAME=CID` is parsed: the same messages."""
    text = f"{name}={source}"
    where = f"argument {text!r}"
    parsed = ds.parse_argument(text, where)
    if parsed.name != name:  # `=` in the CID: parse_argument took it for the name's
        raise InputError(
            f"{where}: {source!r} is not a valid CID",
            "CIDs look like bafy... or Qm...; `codsh add PATH` prints one for your files",
        )
    return parsed
