"""Lakebase (Database API): instances and short-lived credentials.

`GET /api/2.0/database/instances/{name}` describes a configured instance as AVAILABLE on the
configured host (`EmulatorSettings.database_host`); `POST /api/2.0/database/credentials` hands
out the current credential token (`Database.token`). `POST /emulator/database/rotate` (emulator
only) replaces that token, to exercise credential refresh.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from emulator.clock import Clock
from emulator.errors import does_not_exist, invalid_parameter, json_body
from emulator.identity import USER_NAME

CREDENTIAL_LIFETIME_SECONDS = 3600


def new_token() -> str:
    """A fresh random credential token."""
    return f"lakebase-{secrets.token_hex(16)}"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Database:
    """Database instances and the credential token they accept."""

    def __init__(
        self, clock: Clock, instance_names: tuple[str, ...], token: str | None, host: str
    ) -> None:
        self.clock = clock
        self.instance_names = instance_names
        self.host = host
        self.token = token or new_token()
        self._created = _iso(clock.now())

    def rotate(self, token: str | None = None) -> str:
        """Replace the credential token (with `token`, or a random one); returns it."""
        self.token = token or new_token()
        return self.token

    def routes(self) -> list[Route]:
        """The Database API routes and the emulator's rotation endpoint."""
        return [
            Route("/api/2.0/database/instances/{name}", self._get_instance, methods=["GET"]),
            Route("/api/2.0/database/credentials", self._credential, methods=["POST"]),
            Route("/emulator/database/rotate", self._rotate, methods=["POST"]),
        ]

    def _check(self, name: str) -> None:
        if name not in self.instance_names:
            raise does_not_exist(f"Database instance '{name}' does not exist.")

    async def _get_instance(self, request: Request) -> JSONResponse:
        name = request.path_params["name"]
        self._check(name)
        return JSONResponse(
            {
                "name": name,
                "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"lakebase/{name}")),
                "state": "AVAILABLE",
                "read_write_dns": self.host,
                "pg_version": "15",
                "capacity": "CU_1",
                "effective_capacity": "CU_1",
                "node_count": 1,
                "effective_node_count": 1,
                "stopped": False,
                "effective_stopped": False,
                "creator": USER_NAME,
                "creation_time": self._created,
            }
        )

    async def _credential(self, request: Request) -> JSONResponse:
        body = await json_body(request)
        names = body.get("instance_names") or []
        if not names and not body.get("claims"):
            raise invalid_parameter("At least one of instance_names or claims must be specified.")
        for name in names:
            self._check(name)
        return JSONResponse(
            {
                "token": self.token,
                "expiration_time": _iso(self.clock.now() + CREDENTIAL_LIFETIME_SECONDS),
            }
        )

    async def _rotate(self, request: Request) -> JSONResponse:
        token = (await json_body(request)).get("token")
        if token is not None and (not isinstance(token, str) or not token):
            raise invalid_parameter("token must be a non-empty string.")
        return JSONResponse({"token": self.rotate(token)})
