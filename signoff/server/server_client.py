"""The server's own reader and store: the LangGraph server's, or those of a deployment without one.

The sweeper, the metrics, the inbox and Slack read threads as the server itself (every thread,
no user), and the standing API, the inbox and Slack read grants and delegations from the
server's store. Inside a LangGraph server those are the in-process `langgraph_sdk.get_client()`
and the server's own store, and nothing needs registering.

A deployment that serves signoff without a LangGraph server (Databricks Apps: `signoff.apps`)
registers its own as it starts (`serve_from`): a client over its checkpoint store that sees
every thread, the store its graphs read, and how the platform signs a browser in to the inbox
(`Deployment.forwarded_token`). `served_by()` is what is registered, `None` in a LangGraph
server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from langgraph.store.base import BaseStore
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from starlette.datastructures import Headers


@dataclass(frozen=True)
class Deployment:
    """What a deployment without a LangGraph server gives the server's routes."""

    client: LangGraphClient
    """Its own reader (and the sweeper's writer): sees every thread, like `get_client()`."""
    store: BaseStore
    """Where its graphs read grants and delegations."""
    forwarded_token: Callable[[Headers], Awaitable[str | None]] | None = None
    """The token the platform forwards with a browser's request, verified (raises
    `signoff.governance.identity.UnknownToken` saying why not), `None` when it forwards none:
    the inbox signs that user in without its form (`signoff.server.inbox.session`)."""


_serving: list[Deployment] = []


def serve_from(deployment: Deployment | None) -> None:
    """Register `deployment` as this process's server (`None`: the LangGraph server again)."""
    _serving[:] = [] if deployment is None else [deployment]


def served_by() -> Deployment | None:
    """The registered deployment, `None` inside a LangGraph server."""
    return _serving[0] if _serving else None


def server_client() -> LangGraphClient:
    """The server's own client: the registered deployment's, else the LangGraph server's
    in-process one."""
    deployment = served_by()
    return get_client() if deployment is None else deployment.client
