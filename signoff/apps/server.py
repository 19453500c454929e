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
bearer token. `CallerMiddleware` puts the caller into each new invocation's input, serves an
invocation's status and events only to who may read them, and lets the other routes read a
forwarded token as if it were sent as `Authorization: Bearer`.

Databricks Apps' ingress forwards the person's token with every request their browser sends
with its Apps session cookie, whichever site's page made the browser send it. So a request
that changes something (not GET, HEAD or OPTIONS) and is signed in by a forwarded token is
taken only as a page of the App would send it (`browser_refusal`): from the App's own origin
(`SIGNOFF_PUBLIC_URL`'s, which the deploy script sets; only a local run without it takes the
request's own scheme and host, a header the client writes; else 403 naming it), and as
JSON (`Content-Type: application/json`, which another site's page cannot send without the
browser asking the App first; else 415). The inbox (`/inbox`) checks its forms' origin and
CSRF token itself. A request signed in by `Authorization: Bearer` or `x-api-key` (a script, the
CLI) is not a browser's: browsers never add those by themselves.

As it starts, it opens the checkpoint store (`SIGNOFF_CHECKPOINTER`, or Lakebase with
`LAKEBASE_INSTANCE_NAME`) and its store (`signoff.checkpoints.api.opened_api`), registers them
as the server's own client and store for the inbox, metrics, Slack and standing API
(`signoff.server.server_client`), and runs the sweeper (deadlines: reminders, escalations,
expiries) and webhook delivery until it stops, around the Agent Bricks runtime's own start
and stop. Invocations and their events are kept by the runtime's Runtime Store (Lakebase when
deployed, process memory with `DATABRICKS_AGENTBRICKS_RUNTIME_STORE_LOCAL=true`); threads,
checkpoints, grants and delegations by the checkpoint store (its async calls, which the
inbox and standing API use, made to work on SQLite by `signoff.apps.store.async_capable`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from databricks_agentkit.runtime.app import DurableAgentServer
from databricks_agentkit.runtime.auth import InvocationAuthPolicy
from databricks_agentkit.runtime.store import RuntimeStore, runtime_store_from_environment
from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from signoff.apps.identity import authenticate, caller_of, forwarded_in, forwarded_token
from signoff.apps.invocations import INVOCATIONS, Invocations, StampCaller, error_response
from signoff.apps.store import async_capable
from signoff.checkpoints.api import as_sdk, opened_api
from signoff.checkpoints.routes import langgraph_api_routes
from signoff.client.sweeper import sweep_forever
from signoff.governance.identity import UnknownToken
from signoff.graphs import graph_builder
from signoff.server.app import metrics
from signoff.server.inbox.pages import routes as inbox_routes
from signoff.server.server_client import Deployment, serve_from
from signoff.server.slack import routes as slack_routes
from signoff.server.standing_api import routes as standing_routes
from signoff.settings import environment
from signoff.signals.feedback import trace_graph_runs
from signoff.signals.webhooks import delivery_loop

GRAPH_SETTING = "SIGNOFF_APP_GRAPH"
DEFAULT_GRAPH = "approve_reject"
"""The graph the invocation API serves when `SIGNOFF_APP_GRAPH` is not set: it needs no model
endpoint, so a new App works before any agent is configured."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing: a browser may send them from anywhere."""
INBOX = "/inbox"
"""The inbox, whose forms carry a CSRF token and whose posts it checks the origin of."""
OTHER_SITES = frozenset({"cross-site", "same-site"})
"""`Sec-Fetch-Site` values of a request another site's page made the browser send."""


class CallerMiddleware:
    """Sign-in in front of the whole app: a browser's request that would change something
    only as the App's own pages send it (`browser_refusal`); the invocation API as
    `StampCaller` has it; on every other route a forwarded token is verified (`caller_of`: a
    401 when it is refused, or when the forwarded names are someone else's) and presented as
    `Authorization: Bearer`, which is what the metrics, the standing API and the LangGraph
    routes read."""

    def __init__(self, app: ASGIApp, invocations: Invocations, runtime_store: RuntimeStore) -> None:
        self.app = app
        self.invocations = StampCaller(app, invocations, runtime_store)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Sign the request in as the class says, then serve it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if refusal := browser_refusal(scope):
            await refusal(scope, receive, send)
            return
        if str(scope.get("path", "")).startswith(INVOCATIONS):
            await self.invocations(scope, receive, send)
            return
        if token := forwarded_in(Headers(scope=scope)):
            try:
                await caller_of(Headers(scope=scope))
            except UnknownToken as unknown:
                await error_response(401, "SIGNOFF_UNAUTHENTICATED", str(unknown))(
                    scope, receive, send
                )
                return
            MutableHeaders(scope=scope)["authorization"] = f"Bearer {token}"
        await self.app(scope, receive, send)


def browser_refusal(scope: Scope) -> JSONResponse | None:
    """The refusal of a request that would change something (not GET, HEAD, OPTIONS), is
    signed in by Databricks Apps' forwarded token (a browser's) and is outside the inbox, unless
    a page of the App sent it: 403 when another site's page did (`Sec-Fetch-Site` says so, or
    its `Origin` is not `own_origin`), 415 when its body is not declared JSON. `None`:
    serve it."""
    headers = Headers(scope=scope)
    path = str(scope.get("path", ""))
    if (
        scope["method"] in SAFE_METHODS
        or not forwarded_in(headers)
        or path == INBOX
        or path.startswith(f"{INBOX}/")
    ):
        return None
    ours = own_origin(scope)
    origin = headers.get("origin")
    site = (headers.get("sec-fetch-site") or "").strip().lower()
    if site in OTHER_SITES or (origin is not None and (not ours or _origin(origin) != ours)):
        return error_response(
            403,
            "SIGNOFF_CROSS_SITE",
            f"A page of {origin or 'another site'} may not send this request: a browser's "
            f"request that changes something is accepted only from {ours or 'its own URL'} "
            "(the App's own pages). A script signs in with "
            "`Authorization: Bearer <token>` instead.",
        )
    media = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if media != "application/json":
        return error_response(
            415,
            "SIGNOFF_NOT_JSON",
            f"Send the body as JSON, with `Content-Type: application/json` (this request's is "
            f"{media or 'missing'}): a browser's request that changes something is taken only "
            "as JSON.",
        )
    return None


def own_origin(scope: Scope) -> str:
    """The App's own origin (scheme and host): `SIGNOFF_PUBLIC_URL`'s when it is set (never
    the `Host` header's, which whoever sends the request writes), else (a local run) the
    request's own; "" when there is neither."""
    public = environment().public_url
    host = Headers(scope=scope).get("host", "")
    return _origin(public) if public else _origin(f"{scope.get('scheme', 'http')}://{host}")


def _origin(url: str) -> str:
    """`url`'s scheme and host (with its port), lower-case: how an `Origin` header says it."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def build_app(graph: str | None = None, checkpointer: str | None = None) -> DurableAgentServer:
    """The App serving `graph` (default `SIGNOFF_APP_GRAPH`) with the checkpoint store of
    `checkpointer` (default `SIGNOFF_CHECKPOINTER`, or Lakebase); `ValueError` for a graph
    signoff does not have."""
    name = graph or os.environ.get(GRAPH_SETTING) or DEFAULT_GRAPH
    graph_builder(name)  # an unknown name is refused now, naming the graphs
    invocations = Invocations(name)
    # Identity is signoff's own (`signoff.apps.identity`): the runtime's request-user auth
    # would namespace each session by its user, and nobody could answer another's request.
    # The runtime's own choice of Runtime Store (as `Runtime.from_environment` makes it), kept
    # to read a stored invocation's caller and thread before serving its status or events.
    runtime_store = runtime_store_from_environment()
    app = DurableAgentServer(runtime_store=runtime_store, auth_policy=InvocationAuthPolicy())
    app.invoke(invocations.invoke)
    app.recover(invocations.recover)
    app.add_middleware(CallerMiddleware, invocations=invocations, runtime_store=runtime_store)
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
            system = as_sdk(api.client(None, system=True))
            if api.store is None:
                raise RuntimeError("The checkpoint store opened no store for grants.")
            serve_from(Deployment(system, async_capable(api.store), forwarded_token))
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
