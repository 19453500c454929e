"""Who is calling the App: Databricks Apps' user authorization, else a bearer token.

With user authorization on, Databricks Apps' ingress signs the person in and forwards, with
each request, their access token (`X-Forwarded-Access-Token`) and who they are
(`X-Forwarded-Email`, `X-Forwarded-Preferred-Username`). signoff takes the token and has the
workspace say whose it is (`signoff.governance.identity.resolve_token`, cached as it caches),
so the groups the policy checks are the workspace's. The forwarded names are cross-checked
against that user: a mismatch is a 401 naming both, never a guess. `X-Forwarded-User` is the
identity provider's opaque identifier of the person, not a user name, so it is not compared.

Without a forwarded token (the CLI, scripts, a local run), the caller sends its token as
`Authorization: Bearer <token>` (or `x-api-key`), as to a LangGraph server. A request with
neither is refused with what to send. Identity never comes from a field of a body.

The Agent Bricks runtime's own request-user auth (`InvocationAuthPolicy.requires_user`) is not
used: it namespaces every session by its user, so nobody could answer someone else's request,
and it ignores these headers when run locally.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.requests import Request

from signoff.governance.identity import Identity, UnknownToken, resolve_token, token_in

FORWARDED_TOKEN = "x-forwarded-access-token"
"""The header Databricks Apps forwards the signed-in person's access token in."""
FORWARDED_NAMES = ("x-forwarded-email", "x-forwarded-preferred-username")
"""Headers Databricks Apps forwards the person's user name in, checked against the token's."""
HOW_TO_CALL = (
    "Sign in: through Databricks Apps (with user authorization, it forwards your token as "
    "X-Forwarded-Access-Token), or send your token as `Authorization: Bearer <token>` (or "
    "`x-api-key: <token>`)."
)


@dataclass(frozen=True)
class Caller:
    """A caller the workspace knows, and the token they presented."""

    token: str
    identity: Identity


async def caller_of(headers: Mapping[str, str]) -> Caller:
    """Who sent a request with `headers`: the forwarded token's user, else the bearer
    token's; raises `UnknownToken` saying what to send, or which names disagree."""
    token = forwarded_in(headers) or token_in(headers)
    if not token:
        raise UnknownToken(f"No credentials. {HOW_TO_CALL}")
    try:
        identity = await asyncio.to_thread(resolve_token, token)
    except UnknownToken as unknown:
        raise UnknownToken(f"{unknown} {HOW_TO_CALL}") from None
    for header in FORWARDED_NAMES:
        named = (headers.get(header) or "").strip()
        if named and named.casefold() != identity.user.casefold():
            raise UnknownToken(
                f"The forwarded {header} is {named!r}, but the token is {identity.user!r}'s: "
                "a request must be one person's."
            )
    return Caller(token, identity)


async def authenticate(request: Request) -> Identity:
    """The caller of `request` (for the LangGraph API routes); raises `UnknownToken`."""
    return (await caller_of(request.headers)).identity


async def forwarded_token(headers: Mapping[str, str]) -> str | None:
    """The token Databricks Apps forwarded with a browser's request, verified as `caller_of`
    verifies it; `None` when none was forwarded (the inbox then signs in as elsewhere)."""
    if not forwarded_in(headers):
        return None
    return (await caller_of(headers)).token


def forwarded_in(headers: Mapping[str, str]) -> str:
    """The token Databricks Apps forwarded with a request (`X-Forwarded-Access-Token`),
    `""` when none was (or only blanks)."""
    return (headers.get(FORWARDED_TOKEN) or "").strip()
