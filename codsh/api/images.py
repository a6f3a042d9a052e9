"""GET /v1/images/pip-target?image=NAME: the wheel tags of a Python image as the orchestrator's
Docker engine has it, so a client without that image (nor Docker) can still resolve `-r
requirements.txt` into wheels for the nodes' interpreter (`pip download` runs on the client)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import trio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from codsh.core.spec import PYTHON_IMAGE

if TYPE_CHECKING:
    from codsh.api.app import Api
    from codsh.api.tokens import User


def image_tags(image: str) -> dict[str, object]:
    """{"python", "abi", "platforms"} from the image's labels here (blocking: a thread)."""
    from codsh.executor.container import docker_client
    from codsh.images.python import pip_target

    return asdict(pip_target(docker_client(), image))


def routes(api: Api) -> list[Route]:
    async def pip_target(request: Request, user: User) -> Response:
        image = request.query_params.get("image", PYTHON_IMAGE)
        return JSONResponse(await trio.to_thread.run_sync(image_tags, image))

    return [Route("/v1/images/pip-target", api.authed(pip_target))]
