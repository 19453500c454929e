"""The LangGraph server's auth: who is calling, and what they may do (`langgraph.json` "auth").

Every request needs `Authorization: Bearer <token>`, or `x-api-key: <token>` when it has no
`Authorization` header (Agent Inbox can send no other); the token is resolved to a user and
groups by `signoff.governance.identity` (the Databricks workspace by default). No token, or one
nobody owns: 401. Then, before anything is written, the handlers apply the rules of
`signoff.server.admission` (runs, cancellations, thread creation),
`signoff.governance.visibility` (who may see a thread: reads, runs and searches),
`signoff.governance.policy` (who may answer) and
`signoff.server.store_scope` (whose store items), reading what they need of a thread
through the server's in-process client (`signoff.server.thread_facts`). Each refusal is an
HTTP error whose text says what would be allowed; the thread is exactly as it was.

- runs: see `signoff.server.admission` (answers by the policy's deciders only, 403;
  anything else on a pending request, another assistant or graph, 409; out of bounds, 422;
  admin-only parts, 403);
- reads of a thread (its state, history, runs): only who may see it, else 404;
- `threads.search`: filtered to the threads the caller may see (after indexing what changed);
- state and metadata edits, deleting threads, copying them, managing assistants and crons:
  admins only (403); cancelling a run: its starter or an admin;
- the store: each user their own namespaces; nobody writes under `signoff` (grants,
  budgets, delegations), admins included.

Studio's development bypass is off (`disable_studio_auth`): Studio users add the same
`Authorization` header in Studio's connection settings. The server's own in-process calls
(`/noauth`) skip these handlers but carry no identity, so the review nodes refuse their answers.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any, TypeVar

from cachetools import TTLCache
from langgraph_sdk import Auth, get_client

from signoff.governance.delegation import standing_in
from signoff.governance.identity import (
    API_KEY_HEADER,
    Identity,
    UnknownToken,
    identity_of,
    presented_token,
)
from signoff.governance.policy import HOW_TO_SIGN_IN, admin_refusal
from signoff.governance.visibility import (
    OWNER,
    VIEWERS,
    may_see,
    not_visible,
    search_filter,
    user_principal,
)
from signoff.server.acting import ACTING_FOR, acting_refusal, api_identity
from signoff.server.admission import (
    Refusal,
    RunRequest,
    ThreadFacts,
    cancel_refusal,
    run_refusal,
    thread_create_refusal,
)
from signoff.server.standing_api import server_delegations_to
from signoff.server.store_scope import checked_value, scoped, write_refusal
from signoff.server.thread_facts import ViewersIndex, thread_facts

log = logging.getLogger("signoff.server.auth")

auth = Auth()
INDEX = ViewersIndex()
_graph_of_assistant: TTLCache[str, str] = TTLCache(maxsize=1024, ttl=3600)
T = TypeVar("T")
_seen_in_this_request: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar(
    "signoff_threads_seen", default=None
)
"""Threads the caller of the request being handled was found to see (each request runs in a
context of its own)."""


@auth.authenticate
async def authenticate(headers: dict[bytes, bytes], method: str, path: str) -> dict[str, Any]:
    """Resolve the token presented (`presented_token`) to a user and their groups, for the
    call `method` `path` (the server's acting tokens are good for a few calls on one thread
    only: `signoff.server.acting`); 401 without a valid one."""
    authorization = _header(headers, b"authorization")
    api_key = _header(headers, API_KEY_HEADER.encode())
    token = presented_token(authorization, api_key)
    if token is None:
        ignored = (
            " The x-api-key header was ignored: it is read only when there is no "
            "Authorization header."
            if authorization and api_key
            else ""
        )
        raise Auth.exceptions.HTTPException(
            status_code=401, detail=f"Not signed in.{ignored} {HOW_TO_SIGN_IN}"
        )
    try:
        identity, acting_for = await asyncio.to_thread(api_identity, token, method, path)
    except UnknownToken as error:
        raise Auth.exceptions.HTTPException(
            status_code=401, detail=f"Unknown token ({error}). {HOW_TO_SIGN_IN}"
        ) from None
    stands_in = standing_in(await server_delegations_to(identity.user))
    user = replace(identity, stands_in=stands_in).as_auth_user()
    if acting_for is not None:
        user[ACTING_FOR] = acting_for  # its runs may answer this request only (`on_run`)
    return user


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return value.decode("latin-1") if value is not None else None


@auth.on.threads.create_run
async def on_run(ctx: Auth.types.AuthContext, value: Auth.types.RunsCreate) -> None:
    """Admit a run (`signoff.server.admission.run_refusal`) before it is queued; a run
    that creates its thread makes the caller its owner."""
    identity = identity_of(ctx.user)
    run = RunRequest.of(value, await _graph_of(str(value.get("assistant_id"))))
    _raise(acting_refusal(ctx.user, run))
    facts = await _facts(run.thread_id) if run.thread_id else None
    delegations = await server_delegations_to(identity.user) if identity and run.answering else []
    _raise(run_refusal(identity, run, facts, delegations))
    if facts is None:
        _own(value, identity)


@auth.on.threads.create
async def on_thread_create(
    ctx: Auth.types.AuthContext, value: Auth.types.ThreadsCreate
) -> dict[str, Any] | None:
    """A new thread is its creator's; copying threads is for admins. An existing thread
    (`if_exists="do_nothing"`) is returned only to who may see it."""
    identity = identity_of(ctx.user)
    copying = "metadata" not in value  # the server's copy names only the new thread's id
    _raise(thread_create_refusal(identity, value.get("metadata"), copying))
    if not copying:
        _own(value, identity)
    return search_filter(identity)


@auth.on.threads.read
async def on_thread_read(ctx: Auth.types.AuthContext, value: Auth.types.ThreadsRead) -> None:
    """A thread's state, history and runs: only for who may see it (404 otherwise). One
    request reads its thread several times (a `runs.wait` does so three times); the answer
    holds for the whole request, since nothing in it takes away its caller's view."""
    identity = identity_of(ctx.user)
    thread_id = str(value.get("thread_id"))
    seen = _seen_in_this_request.get()
    if seen is None:
        _seen_in_this_request.set(seen := set())
    if thread_id in seen:
        return
    facts = await _facts(thread_id)
    if facts is not None and not facts.values and not may_see(identity, facts.viewers):
        facts = await _facts(thread_id, from_checkpoint=True)  # a record without its state yet
    if facts is None:
        return  # the server answers 404 itself
    if not may_see(identity, facts.viewers):
        _raise(Refusal(404, not_visible(thread_id, identity)))
    seen.add(thread_id)


@auth.on.threads.search
async def on_thread_search(
    ctx: Auth.types.AuthContext, value: Auth.types.ThreadsSearch
) -> dict[str, Any] | None:
    """Only the threads the caller may see, with what changed since the last search indexed."""
    try:
        await _as_server(INDEX.catch_up(get_client()))
    except Exception:  # noqa: BLE001 - a stale index must not fail the search
        log.exception("Indexing who may see the threads failed; searching the last index")
    return search_filter(identity_of(ctx.user))


@auth.on.threads.update
async def on_thread_update(ctx: Auth.types.AuthContext, value: Auth.types.ThreadsUpdate) -> None:
    """Cancelling a run: its starter or an admin. State edits, metadata edits and rollbacks:
    admins."""
    identity = identity_of(ctx.user)
    action = value.get("action")
    if action in ("interrupt", "rollback"):
        thread_id = value.get("thread_id")
        run_ids = (value.get("metadata") or {}).get("run_ids")
        starters = None
        if thread_id is not None and run_ids:
            starters = {str(r): await _starter(str(thread_id), str(r)) for r in run_ids}
        tid = None if thread_id is None else str(thread_id)
        _raise(cancel_refusal(identity, str(action), tid, starters))
        return
    _forbid_unless_admin(
        identity,
        "edit thread state or metadata (to close a pending request, its requester withdraws "
        'it by answering "withdraw")',
    )


@auth.on.threads.delete
async def on_thread_delete(ctx: Auth.types.AuthContext, value: Auth.types.ThreadsDelete) -> None:
    """Deleting a thread discards its requests and audit trail: admins only."""
    _forbid_unless_admin(identity_of(ctx.user), "delete threads or runs")


async def on_assistant_change(ctx: Auth.types.AuthContext, value: Any) -> None:
    """Assistants carry thresholds, stages and endpoints: admins only."""
    _forbid_unless_admin(
        identity_of(ctx.user), "create, change or delete assistants (their context is policy)"
    )


for register in (auth.on.assistants.create, auth.on.assistants.update, auth.on.assistants.delete):
    register(on_assistant_change)


@auth.on.crons
async def on_crons(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> None:
    """Crons start runs on someone's behalf: admins only."""
    _forbid_unless_admin(identity_of(ctx.user), "manage crons")


@auth.on.store
async def on_store(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> None:
    """Each user their own namespaces of the store, and nobody writes signoff's own
    (`signoff.server.store_scope`)."""
    identity = identity_of(ctx.user)
    try:
        if refusal := write_refusal(ctx.action, value.get("namespace")):
            raise refusal
        value["namespace"] = scoped(identity, value.get("namespace"))
        if ctx.action == "put" and value.get("value") is not None:
            checked_value(value["value"])
    except Refusal as refusal:
        raise _http_error(refusal) from None


def _own(
    value: Auth.types.RunsCreate | Auth.types.ThreadsCreate, identity: Identity | None
) -> None:
    """Make the thread `value` creates its creator's: the owner and first viewer."""
    if identity is None:
        return
    metadata = value.get("metadata")
    if not isinstance(metadata, dict):
        metadata = value["metadata"] = {}
    metadata[OWNER] = identity.user
    metadata[VIEWERS] = [user_principal(identity.user)]


async def _as_server(call: Coroutine[Any, Any, T]) -> T:
    """Await `call` as the server itself. The in-process API would otherwise run it as the
    caller of the request being checked (it takes the auth context it finds), and so through
    these very handlers."""
    return await asyncio.create_task(call, context=contextvars.Context())


async def _facts(thread_id: str, from_checkpoint: bool = False) -> ThreadFacts | None:
    """The thread's facts (`thread_facts`), read as the server; a `Refusal` as the HTTP error."""
    try:
        reading = thread_facts(get_client(), thread_id, from_checkpoint=from_checkpoint)
        return await _as_server(reading)
    except Refusal as refusal:
        raise _http_error(refusal) from None


async def _graph_of(assistant_id: str) -> str:
    """The graph `assistant_id` runs (an assistant never changes graph)."""
    if (graph := _graph_of_assistant.get(assistant_id)) is None:
        try:
            assistant = await _as_server(get_client().assistants.get(assistant_id))
            graph = str(assistant.get("graph_id"))
        except Exception:  # noqa: BLE001 - an unknown assistant: the server answers 404
            return ""
        _graph_of_assistant[assistant_id] = graph
    return graph


async def _starter(thread_id: str, run_id: str) -> str | None:
    """Who started run `run_id` of `thread_id` (`None` if there is no such run)."""
    try:
        run = await _as_server(get_client().runs.get(thread_id, run_id))
    except Exception:  # noqa: BLE001 - no such run: nobody started it
        return None
    kwargs: Any = run.get("kwargs") or {}
    configurable = (kwargs.get("config") or {}).get("configurable") or {}
    return configurable.get("langgraph_auth_user_id")


def _forbid_unless_admin(identity: Identity | None, doing: str) -> None:
    if refusal := admin_refusal(identity, doing):
        raise Auth.exceptions.HTTPException(status_code=403, detail=refusal)


def _raise(refusal: Refusal | None) -> None:
    """Raise `refusal`, if any, as the HTTP error it stands for."""
    if refusal is not None:
        raise _http_error(refusal)


def _http_error(refusal: Refusal) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(status_code=refusal.status, detail=refusal.detail)
