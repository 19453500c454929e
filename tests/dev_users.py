"""The emulator's development users, as tests sign in with them.

`signed_in_clients(url)` opens `langgraph-sdk` clients of one server, one per user, each with
that user's bearer token; `decider_for(request)` names a user the policy lets decide a pending
request (in its groups, not its requester, no decider of an earlier stage).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from emulator.identity import DEV_USERS

TOKENS = {user.user_name.split("@")[0]: token for token, user in DEV_USERS.items()}
"""Development user's short name (alice, bob, carol, dave, erin, frank) → bearer token."""
GROUPS = {user.user_name: set(user.groups) for user in DEV_USERS.values()}

Clients = Callable[[str], LangGraphClient]
"""`clients("bob")`: a client signed in as bob."""


def user_name(name: str) -> str:
    """The full user name of development user `name`, e.g. `bob@signoff.local`."""
    return f"{name}@signoff.local"


def signed_in(url: str, name: str, **options: Any) -> LangGraphClient:
    """A `langgraph-sdk` client for `url` signed in as development user `name` (`options` go
    to `get_client`, e.g. `timeout`)."""
    headers = {"Authorization": f"Bearer {TOKENS[name]}"}
    return get_client(url=url, headers=headers, **options)


@asynccontextmanager
async def signed_in_clients(url: str) -> AsyncIterator[Clients]:
    """A factory of clients of `url`, one per development user, all closed on exit."""
    async with AsyncExitStack() as stack:
        made: dict[str, LangGraphClient] = {}

        def client_for(name: str) -> LangGraphClient:
            if name not in made:
                made[name] = signed_in(url, name)
                stack.push_async_callback(made[name].aclose)
            return made[name]

        yield client_for


def decider_for(request: dict[str, Any]) -> str:
    """A development user the policy lets decide `request`: in its groups, not its requester,
    and no decider of an earlier stage."""
    excluded = {request["requested_by"]} | {
        earlier["reviewer"] for earlier in request.get("earlier_decisions") or []
    }
    for name in TOKENS:
        full = user_name(name)
        if full not in excluded and GROUPS[full] & set(request["decided_by"]):
            return name
    raise LookupError(f"no development user may decide {request['decided_by']}")
