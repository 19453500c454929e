"""The emulator: its state (clock, dataset, jobs, Genie, functions, database, chat) and the
Starlette app routing Databricks REST paths to it.

Every Databricks path needs `Authorization: Bearer <any non-empty token>` (else 401
UNAUTHENTICATED); `/.well-known/` and the emulator's own `/emulator/...` endpoints do not.
Errors always come back as `{"error_code", "message"}`; unknown routes are 404
ENDPOINT_NOT_FOUND. Emulator-only endpoints:

- `POST /emulator/clock/advance` `{"seconds": N}`: move the clock (job runs) forward;
- `GET /emulator/state`: runs, refunds and Genie activity, for debugging;
- `POST /emulator/database/rotate` `{"token": "..."}` (optional): replace the database token;
- `POST /emulator/delays` `{"path": ..., "seconds": N}` / `DELETE /emulator/delays`: hold
  requests to a path (see `emulator.delays`).
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from emulator import identity
from emulator.chat import Chat
from emulator.clock import Clock
from emulator.database import Database
from emulator.dataset import Dataset
from emulator.delays import Delays
from emulator.errors import ApiError, invalid_parameter, json_body
from emulator.functions import Functions
from emulator.genie import Genie
from emulator.jobs import Jobs
from emulator.responder import SIGNOFF_TOOLS, DevModelTools

DATASET_FILE = "signoff.db"
OPEN_PATHS = ("/.well-known/", "/emulator/")


@dataclass(frozen=True, kw_only=True)
class EmulatorSettings:
    """How an emulator instance behaves."""

    pending_seconds: float = 1.0
    """How long a new run stays PENDING."""
    running_seconds: float = 30.0
    """How long a run then stays RUNNING before it TERMINATES with SUCCESS."""
    first_run_id: int = 1001
    data_dir: Path | None = None
    """Where the SQLite dataset is created; None: a temporary directory removed on close."""
    database_instances: tuple[str, ...] = ("signoff-lakebase",)
    database_token: str | None = None
    """The database credential token; None: a random one."""
    database_host: str = "127.0.0.1"
    """The host database instances report as `read_write_dns` (Lakebase connects to port 5432)."""
    serving_endpoints: tuple[str, ...] = ("signoff-dev-model",)
    """Endpoint names the development chat model answers to."""
    dev_model_tools: DevModelTools = SIGNOFF_TOOLS
    """The tool names the development chat model calls; default: those of signoff's graphs."""


class Emulator:
    """One emulated workspace with its own state and dataset; `app` serves it."""

    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        self.settings = settings or EmulatorSettings()
        data_dir = self.settings.data_dir
        self._cleanup: Callable[[], object] = lambda: None
        if data_dir is None:
            data_dir = Path(tempfile.mkdtemp(prefix="signoff-emulator-"))
            # Removed on close() or, failing that, when the interpreter exits.
            self._cleanup = weakref.finalize(self, shutil.rmtree, data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.clock = Clock()
        self.dataset = Dataset(data_dir / DATASET_FILE)
        self.jobs = Jobs(
            self.clock,
            pending_seconds=self.settings.pending_seconds,
            running_seconds=self.settings.running_seconds,
            first_run_id=self.settings.first_run_id,
        )
        self.genie = Genie(self.dataset, self.clock)
        self.functions = Functions(self.dataset.path, self.clock.now_ms())
        self.database = Database(
            self.clock,
            self.settings.database_instances,
            self.settings.database_token,
            self.settings.database_host,
        )
        self.chat = Chat(self.settings.serving_endpoints, self.settings.dev_model_tools)
        self.delays = Delays()
        self.app = self._build_app()

    def state(self) -> dict[str, Any]:
        """A JSON summary of what happened in this workspace."""
        now = self.clock.now()
        return {
            "clock": now,
            "dataset": str(self.dataset.path),
            "runs": [
                {
                    "run_id": run.run_id,
                    "job_id": run.job.job_id,
                    "job_parameters": run.parameters,
                    **run.state(now),
                }
                for run in self.jobs.runs.values()
            ],
            "refunds": self.dataset.table("refunds"),
            "genie_conversations": len(self.genie.conversations),
            "genie_messages": len(self.genie.messages),
        }

    def close(self) -> None:
        """Remove the temporary dataset directory, if this emulator made one."""
        self._cleanup()

    def _build_app(self) -> Starlette:
        routes = [
            *identity.ROUTES,
            *self.jobs.routes(),
            *self.genie.routes(),
            *self.functions.routes(),
            *self.database.routes(),
            *self.chat.routes(),
            *self.delays.routes(),
            Route("/emulator/clock/advance", self._advance_clock, methods=["POST"]),
            Route("/emulator/state", self._state, methods=["GET"]),
        ]
        app = Starlette(
            routes=routes,
            exception_handlers={
                ApiError: _api_error,
                HTTPException: _unknown_route,
                Exception: _internal_error,
            },
        )
        app.add_middleware(BearerAuth)
        app.add_middleware(self.delays.middleware)
        return app

    async def _advance_clock(self, request: Request) -> JSONResponse:
        seconds = (await json_body(request)).get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise invalid_parameter("seconds must be a non-negative number.")
        return JSONResponse({"clock": self.clock.advance(seconds)})

    async def _state(self, _: Request) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(self.state))


class BearerAuth:
    """ASGI middleware: Databricks paths need `Authorization: Bearer <non-empty token>`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 401 without a bearer token, else pass the request on."""
        if scope["type"] == "http" and not scope["path"].startswith(OPEN_PATHS):
            headers = dict(scope["headers"])
            scheme, _, token = headers.get(b"authorization", b"").decode().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                error = ApiError(
                    401,
                    "UNAUTHENTICATED",
                    "Credential was not sent or was of an unsupported type for this API.",
                )
                await error.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _api_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return error.response()


async def _unknown_route(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code in (404, 405):
        message = f"No API found for '{request.method} {request.url.path}'"
        return ApiError(404, "ENDPOINT_NOT_FOUND", message).response()
    return ApiError(error.status_code, "BAD_REQUEST", str(error.detail)).response()


async def _internal_error(_: Request, error: Exception) -> Response:
    return ApiError(500, "INTERNAL_ERROR", f"{type(error).__name__}: {error}").response()
