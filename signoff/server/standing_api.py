"""The standing approvals API, mounted by `signoff.server.app`:

    GET    /signoff/grants[?all=1]       the grants the caller may see (live; all: ended too)
    POST   /signoff/grants               grant (body: `signoff.standing.grants.GrantSpec`)
    DELETE /signoff/grants/{id}          revoke (its grantor or an admin)
    GET    /signoff/delegations[?all=1]  the caller's delegations, given and received
    POST   /signoff/delegations          delegate (body: `DelegationSpec`)
    DELETE /signoff/delegations/{id}     revoke (its delegator or an admin)

Each call signs in like any client (`Authorization: Bearer <token>`, resolved off the event
loop by `signoff.governance.identity.resolve_token`): 401 without. Records are kept in the
server's own store (`signoff.standing.store`); refusals are JSON `{"detail": ...}` with 403,
404 or 422, saying what would be allowed. The inbox calls the same code in process
(`create_grant_as` and the other `*_as` functions).
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from langgraph.store.base import BaseStore
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from signoff.governance.audit import audit_key
from signoff.governance.delegation import Delegation
from signoff.governance.identity import (
    Identity,
    UnknownToken,
    resolve_token,
    token_in,
)
from signoff.governance.policy import HOW_TO_SIGN_IN
from signoff.server.server_client import served_by
from signoff.settings import load_settings
from signoff.standing import manage
from signoff.standing.grants import Refused
from signoff.standing.manage import DelegationView, GrantView
from signoff.standing.store import adelegations_for


async def server_store() -> BaseStore:
    """The server's store (where the graphs' nodes read grants too): the registered
    deployment's (`signoff.server.server_client`), else the LangGraph server's; once the
    signing key and the settings are loaded (off the event loop: they may touch files)."""
    if not _warmed.is_set():
        await asyncio.to_thread(_warm)
    if (deployment := served_by()) is not None:
        return deployment.store
    from langgraph_api.store import get_store  # type: ignore[import-untyped]  # in the server only

    return await get_store()


async def server_delegations_to(user: str) -> list[Delegation]:
    """The delegations (signed, from the server's store) that name `user` as delegate."""
    return await adelegations_for(await server_store(), user)


_warmed = threading.Event()


def _warm() -> None:
    """Load what signing and the policy read from files, before the event loop needs them
    (both are cached once loaded)."""
    audit_key()
    load_settings()
    _warmed.set()


async def create_grant_as(identity: Identity, spec: Any) -> GrantView:
    """`identity` grants `spec`; `Refused` says why not."""
    return await manage.create_grant(await server_store(), identity, spec)


async def list_grants_as(identity: Identity, include_ended: bool = False) -> list[GrantView]:
    """The grants `identity` may see."""
    return await manage.list_grants(await server_store(), identity, include_ended)


async def revoke_grant_as(identity: Identity, grant_id: str) -> GrantView:
    """`identity` revokes grant `grant_id`; `Refused` says why not."""
    return await manage.revoke_grant(await server_store(), identity, grant_id)


async def create_delegation_as(identity: Identity, spec: Any) -> DelegationView:
    """`identity` delegates as `spec` asks; `Refused` says why not."""
    return await manage.create_delegation(await server_store(), identity, spec)


async def list_delegations_as(
    identity: Identity, include_ended: bool = False
) -> list[DelegationView]:
    """The delegations `identity` may see."""
    return await manage.list_delegations(await server_store(), identity, include_ended)


async def revoke_delegation_as(identity: Identity, delegation_id: str) -> DelegationView:
    """`identity` revokes delegation `delegation_id`; `Refused` says why not."""
    return await manage.revoke_delegation(await server_store(), identity, delegation_id)


async def grants(request: Request) -> Response:
    """List the grants the caller may see (GET), or grant (POST)."""
    identity = await _identity(request)
    if isinstance(identity, Response):
        return identity
    if request.method == "POST":
        return await _answer(create_grant_as(identity, await _body(request)), 201)
    return await _answer(list_grants_as(identity, _all(request)))


async def grant(request: Request) -> Response:
    """Revoke a grant (DELETE)."""
    identity = await _identity(request)
    if isinstance(identity, Response):
        return identity
    return await _answer(revoke_grant_as(identity, request.path_params["grant_id"]))


async def delegations(request: Request) -> Response:
    """List the caller's delegations (GET), or delegate (POST)."""
    identity = await _identity(request)
    if isinstance(identity, Response):
        return identity
    if request.method == "POST":
        return await _answer(create_delegation_as(identity, await _body(request)), 201)
    return await _answer(list_delegations_as(identity, _all(request)))


async def delegation(request: Request) -> Response:
    """Revoke a delegation (DELETE)."""
    identity = await _identity(request)
    if isinstance(identity, Response):
        return identity
    return await _answer(revoke_delegation_as(identity, request.path_params["delegation_id"]))


def routes() -> list[Route]:
    """The standing approvals API's routes."""
    return [
        Route("/signoff/grants", grants, methods=["GET", "POST"]),
        Route("/signoff/grants/{grant_id}", grant, methods=["DELETE"]),
        Route("/signoff/delegations", delegations, methods=["GET", "POST"]),
        Route("/signoff/delegations/{delegation_id}", delegation, methods=["DELETE"]),
    ]


async def _identity(request: Request) -> Identity | Response:
    """Who is calling, or the 401 to answer."""
    token = token_in(request.headers)
    if token is not None:
        try:
            return await asyncio.to_thread(resolve_token, token)
        except UnknownToken as error:
            return _error(401, f"Unknown token ({error}). {HOW_TO_SIGN_IN}")
    return _error(401, f"Not signed in. {HOW_TO_SIGN_IN}")


async def _body(request: Request) -> Any:
    """The request's JSON body; anything unreadable is passed on to be refused (422)."""
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return None


async def _answer(call: Any, status: int = 200) -> Response:
    try:
        return JSONResponse(await call, status_code=status)
    except Refused as refused:
        return _error(refused.status, refused.detail)


def _all(request: Request) -> bool:
    return request.query_params.get("all", "").lower() in ("1", "true", "yes")


def _error(status: int, detail: str) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)
