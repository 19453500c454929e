"""The app `langgraph.json` mounts into the LangGraph server (`"http": {"app": ...}`).

Its lifespan runs two loops in the server process for as long as it serves:

- the sweeper (`signoff.client.sweeper`): every `SIGNOFF_SWEEP_SECONDS` (default 30) it reminds,
  escalates and expires pending requests whose time has come. Deadlines live in the
  checkpoints, so a restarted server enforces them where the last one stopped;
- webhook delivery (`signoff.signals.webhooks`): posts queued events to `SIGNOFF_WEBHOOK_URL`, with
  retries, apart from any run, so a slow or dead receiver never slows one.

As the server starts, with `SIGNOFF_MLFLOW_FEEDBACK=on`, MLflow traces every run of the graphs
from then on (`signoff.signals.feedback.trace_graph_runs`), so that each decision is logged as
feedback on the trace of the run that raised its request.

It serves the web inbox at `/inbox` (`signoff.server.inbox`), Slack's button clicks at
`POST /signoff/slack/interactions` (`signoff.server.slack`), and `GET /signoff/metrics`:
Prometheus metrics of the approvals (`signoff.signals.metrics`). A scrape signs in like any client
(`Authorization: Bearer <token>` of a user), or sends the scrape token `SIGNOFF_METRICS_TOKEN`
when one is set (Prometheus: `authorization: {credentials: ...}`); without either it is a 401.
A scrape reads no thread: its gauges come from the list of pending requests the inbox keeps
(read at most every `SIGNOFF_INBOX_CACHE_SECONDS`), so scrapes cost the server nothing
however often they come. The sweeper, the metrics and the inbox's reads go through the
server's own client (`signoff.server.server_client`: here the in-process `langgraph-sdk`
client); the inbox's answers go to the API as the signed-in user.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from signoff.client.sweeper import sweep_forever
from signoff.governance.identity import (
    UnknownToken,
    resolve_token,
    token_in,
)
from signoff.governance.policy import HOW_TO_SIGN_IN
from signoff.server.inbox.pages import PENDING
from signoff.server.inbox.pages import routes as inbox_routes
from signoff.server.server_client import server_client
from signoff.server.slack import routes as slack_routes
from signoff.server.standing_api import routes as standing_routes
from signoff.settings import environment
from signoff.signals.feedback import trace_graph_runs
from signoff.signals.metrics import exposition
from signoff.signals.webhooks import delivery_loop


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    """Trace the graphs' runs when decisions are MLflow feedback; run the sweeper and webhook
    delivery until the server stops."""
    await asyncio.to_thread(trace_graph_runs)  # loads MLflow (a second) only when it is on
    stop = asyncio.Event()
    loops = [
        asyncio.create_task(sweep_forever(server_client(), stop), name="signoff-sweeper"),
        asyncio.create_task(delivery_loop(stop), name="signoff-webhooks"),
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*loops, return_exceptions=True)


async def metrics(request: Request) -> Response:
    """The approvals' Prometheus metrics, for a signed-in user or the scrape token."""
    token = token_in(request.headers)
    if token is None or not await _may_scrape(token):
        return PlainTextResponse(
            "Metrics need `Authorization: Bearer <token>`: the scrape token set in "
            f"SIGNOFF_METRICS_TOKEN, or a user's token. {HOW_TO_SIGN_IN}",
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    pending = await PENDING.current(server_client())
    return Response(exposition(pending), media_type=CONTENT_TYPE_LATEST)


async def _may_scrape(token: str) -> bool:
    """Whether `token` is the scrape token, or signs a user in."""
    scrape_token = environment().metrics_token
    if scrape_token and hmac.compare_digest(token.encode(), scrape_token.encode()):
        return True
    try:
        await asyncio.to_thread(resolve_token, token)
    except UnknownToken:
        return False
    return True


app = Starlette(
    routes=[
        Route("/signoff/metrics", metrics),
        *standing_routes(),
        *inbox_routes(),
        *slack_routes(),
    ],
    lifespan=lifespan,
)
