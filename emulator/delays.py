"""Slow paths on purpose: hold requests to chosen API paths, to test crashes mid-call.

`POST /emulator/delays` `{"path": "/api/2.2/jobs/runs/get", "seconds": 60}` makes every
request whose path starts with `path` wait that long before it is handled (a slow or hung
workspace); `DELETE /emulator/delays` removes every delay and releases the requests held. A
test can then kill a client while it waits, after the calls before it have taken effect.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from emulator.errors import invalid_parameter, json_body


class Delays:
    """Path prefix → seconds every matching request waits before it is handled."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def routes(self) -> list[Route]:
        """The control endpoints."""
        return [
            Route("/emulator/delays", self._set, methods=["POST"]),
            Route("/emulator/delays", self._clear, methods=["DELETE"]),
        ]

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Wrap `app` so that matching requests wait first."""

        async def delayed(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                await self._hold(scope["path"])
            await app(scope, receive, send)

        return delayed

    async def _hold(self, path: str) -> None:
        """Wait as long as `path` is delayed, or until the delays are cleared."""
        loop = asyncio.get_running_loop()
        wait = max((s for p, s in self.seconds.items() if path.startswith(p)), default=0.0)
        until = loop.time() + wait
        while self.seconds and loop.time() < until:
            await asyncio.sleep(min(0.1, until - loop.time()))

    async def _set(self, request: Request) -> JSONResponse:
        body = await json_body(request)
        path, seconds = body.get("path"), body.get("seconds")
        if not isinstance(path, str) or not path.startswith("/"):
            raise invalid_parameter("path must be an API path starting with '/'.")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise invalid_parameter("seconds must be a non-negative number.")
        self.seconds[path] = float(seconds)
        return JSONResponse({"delays": self.seconds})

    async def _clear(self, _: Request) -> JSONResponse:
        self.seconds.clear()
        return JSONResponse({"delays": self.seconds})
