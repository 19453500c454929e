"""The app `langgraph.json` mounts into the LangGraph server (`"http": {"app": ...}`).

Its lifespan runs two loops in the server process for as long as it serves:

- the sweeper (`signoff.sweeper`): every `SIGNOFF_SWEEP_SECONDS` (default 30) it reminds,
  escalates and expires pending requests whose time has come. Deadlines live in the
  checkpoints, so a restarted server enforces them where the last one stopped;
- webhook delivery (`signoff.notify`): posts queued events to `SIGNOFF_WEBHOOK_URL`, with
  retries, apart from any run, so a slow or dead receiver never slows one.

It serves the web inbox at `/inbox` (`signoff.inbox`), and `GET /signoff/metrics`:
Prometheus metrics of the approvals (`signoff.metrics`). Like `/ok`, the metrics need no
token: they show counts and ages, never a request's content. The sweeper, the metrics and the
inbox's reads go through the in-process `langgraph-sdk` client; the inbox's answers go to the
API as the signed-in user.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from langgraph_sdk import get_client
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from signoff.inbox.pages import routes as inbox_routes
from signoff.metrics import exposition
from signoff.notify import delivery_loop
from signoff.pending_requests import every_pending_request
from signoff.sweeper import sweep_forever


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    """Run the sweeper and webhook delivery until the server stops."""
    stop = asyncio.Event()
    loops = [
        asyncio.create_task(sweep_forever(get_client(), stop), name="signoff-sweeper"),
        asyncio.create_task(delivery_loop(stop), name="signoff-webhooks"),
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*loops, return_exceptions=True)


async def metrics(_: Request) -> Response:
    """The approvals' Prometheus metrics, the pending ones read now."""
    pending = await every_pending_request(get_client())
    return Response(exposition(pending), media_type=CONTENT_TYPE_LATEST)


app = Starlette(routes=[Route("/signoff/metrics", metrics), *inbox_routes()], lifespan=lifespan)
