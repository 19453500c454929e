"""The Databricks App: one FastAPI app, `DurableAgentServer`, serving everything of signoff.

    uvicorn --factory signoff.apps.server:build_app --host 0.0.0.0 --port $DATABRICKS_APP_PORT

It serves, on one URL:

- `POST /api/invocations` (and its status and events): the Agent Bricks invocation API of the
  graph `SIGNOFF_APP_GRAPH` (default `approve_reject`; any of `signoff.graphs`), through
  `signoff.apps.invocations`;
- the part of the LangGraph API signoff's clients use (`/threads/...`:
  `signoff.checkpoints.routes.langgraph_api_routes`), for every graph, so `signoff --url <app>
  pending`, `approve` and the inbox's answers work against the App;
- the web inbox at `/inbox` (a person opening it through Databricks Apps is signed in by the
  forwarded token), `GET /signoff/metrics`, the standing approvals API (`/signoff/grants`,
  `/signoff/delegations`) and Slack's buttons (`POST /signoff/slack/interactions`).

Everyone signs in as `signoff.apps.identity` says: Databricks Apps' forwarded token, else a
bearer token. `CallerMiddleware` puts the caller into each new invocation's input and lets the
other routes read a forwarded token as if it were sent as `Authorization: Bearer`.

As it starts, it opens the checkpoint store (`SIGNOFF_CHECKPOINTER`, or Lakebase with
`LAKEBASE_INSTANCE_NAME`) and its store (`signoff.checkpoints.api.opened_api`), registers them
as the server's own client and store for the inbox, metrics, Slack and standing API
(`signoff.server.server_client`), and runs the sweeper (deadlines: reminders, escalations,
expiries) and webhook delivery until it stops, around the Agent Bricks runtime's own start
and stop. Invocations and their events are kept by the runtime's Runtime Store (Lakebase when
deployed, process memory with `DATABRICKS_AGENTBRICKS_RUNTIME_STORE_LOCAL=true`); threads,
checkpoints, grants and delegations by the checkpoint store.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

from databricks_agentkit.runtime.app import DurableAgentServer
from databricks_agentkit.runtime.auth import InvocationAuthPolicy
from fastapi import FastAPI
from langgraph_sdk.client import LangGraphClient
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from signoff.apps.identity import FORWARDED_TOKEN, authenticate, caller_of, forwarded_token
from signoff.apps.invocations import INVOCATIONS, Invocations, StampCaller, error_response
from signoff.checkpoints.api import opened_api
from signoff.checkpoints.routes import langgraph_api_routes
from signoff.client.sweeper import sweep_forever
from signoff.governance.identity import UnknownToken
from signoff.graphs import graph_builder
from signoff.server.app import metrics
from signoff.server.inbox.pages import routes as inbox_routes
from signoff.server.server_client import Deployment, serve_from
from signoff.server.slack import routes as slack_routes
from signoff.server.standing_api import routes as standing_routes
from signoff.signals.feedback import trace_graph_runs
from signoff.signals.webhooks import delivery_loop

GRAPH_SETTING = "SIGNOFF_APP_GRAPH"
DEFAULT_GRAPH = "approve_reject"
"""The graph the invocation API serves when `SIGNOFF_APP_GRAPH` is not set: it needs no model
endpoint, so a new App works before any agent is configured."""


class CallerMiddleware:
    """Sign-in in front of the whole app: the invocation API as `StampCaller` has it; on every
    other route a forwarded token is verified (`caller_of`: a 401 when it is refused, or
    when the forwarded names are someone else's) and presented as `Authorization: Bearer`,
    which is what the metrics, the standing API and the LangGraph routes read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.invocations = StampCaller(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Sign the request in as the class says, then serve it."""
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(INVOCATIONS):
            await self.invocations(scope, receive, send)
            return
        if scope["type"] == "http" and (token := Headers(scope=scope).get(FORWARDED_TOKEN)):
            try:
                await caller_of(Headers(scope=scope))
            except UnknownToken as unknown:
                await error_response(401, "SIGNOFF_UNAUTHENTICATED", str(unknown))(
                    scope, receive, send
                )
                return
            MutableHeaders(scope=scope)["authorization"] = f"Bearer {token.strip()}"
        await self.app(scope, receive, send)


def build_app(graph: str | None = None, checkpointer: str | None = None) -> DurableAgentServer:
    """The App serving `graph` (default `SIGNOFF_APP_GRAPH`) with the checkpoint store of
    `checkpointer` (default `SIGNOFF_CHECKPOINTER`, or Lakebase); `ValueError` for a graph
    signoff does not have."""
    name = graph or os.environ.get(GRAPH_SETTING) or DEFAULT_GRAPH
    graph_builder(name)  # an unknown name is refused now, naming the graphs
    invocations = Invocations(name)
    # Identity is signoff's own (`signoff.apps.identity`): the runtime's request-user auth
    # would namespace each session by its user, and nobody could answer another's request.
    app = DurableAgentServer(auth_policy=InvocationAuthPolicy())
    app.invoke(invocations.invoke)
    app.recover(invocations.recover)
    app.add_middleware(CallerMiddleware)
    app.router.routes.extend(
        [
            Route("/signoff/metrics", metrics),
            *standing_routes(),
            *inbox_routes(),
            *slack_routes(),
        ]
    )
    runtime = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(server: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(trace_graph_runs)  # loads MLflow only when it is on
        async with opened_api(checkpointer) as api:
            api_routes = langgraph_api_routes(api, authenticate)
            app.router.routes.extend(api_routes)
            system = cast(LangGraphClient, api.client(None, system=True))
            if api.store is None:
                raise RuntimeError("The checkpoint store opened no store for grants.")
            serve_from(Deployment(system, api.store, forwarded_token))
            invocations.use(api)
            stop = asyncio.Event()
            loops = [
                asyncio.create_task(sweep_forever(system, stop), name="signoff-sweeper"),
                asyncio.create_task(delivery_loop(stop), name="signoff-webhooks"),
            ]
            try:
                async with runtime(server):
                    yield
            finally:
                stop.set()
                await asyncio.gather(*loops, return_exceptions=True)
                invocations.use(None)
                serve_from(None)
                for route in api_routes:
                    app.router.routes.remove(route)

    app.router.lifespan_context = lifespan
    return app
