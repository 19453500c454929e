"""The LangGraph server's auth: who is calling, and what they may do (`langgraph.json` "auth").

Every request needs `Authorization: Bearer <token>`; the token is resolved to a user and
groups by `signoff.identity` (the Databricks workspace by default). No token, or one nobody
owns: 401. Then, before anything is written, the handlers apply `signoff.policy`:

- answering a request (a run with `command.resume`): only its deciders, never its requester,
  never one person for two stages; the requester or an admin may withdraw it. Else 403 with
  who may, and the request stays pending with the same `request_id`.
- new input to a thread waiting on a request: 409 naming the request (withdraw it first).
- admin only (403 otherwise): state edits (`update_state`, `command.update`/`goto`), runs
  forked from a checkpoint, run-time `context`/`configurable` (it overrides the assistant's
  thresholds), deleting threads, cancelling with rollback, and managing assistants and crons.

Studio's development bypass is off (`disable_studio_auth`): Studio users add the same
`Authorization` header in Studio's connection settings. The server's own in-process calls
(`/noauth`) skip these handlers but carry no identity, so the review nodes refuse their answers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph_sdk import Auth, get_client

from signoff.approval.permission import resume_refusal
from signoff.identity import Identity, UnknownToken, identity_of, resolve_token
from signoff.policy import HOW_TO_SIGN_IN, admin_refusal

auth = Auth()


@auth.authenticate
async def authenticate(authorization: str | None) -> dict[str, Any]:
    """Resolve the bearer token to a user and their groups; 401 without a valid one."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Auth.exceptions.HTTPException(
            status_code=401, detail=f"Not signed in. {HOW_TO_SIGN_IN}"
        )
    try:
        identity = await asyncio.to_thread(resolve_token, token.strip())
    except UnknownToken as error:
        raise Auth.exceptions.HTTPException(
            status_code=401, detail=f"Unknown token ({error}). {HOW_TO_SIGN_IN}"
        ) from None
    return identity.as_auth_user()


@auth.on.threads.create_run
async def on_run(ctx: Auth.types.AuthContext, value: Auth.types.RunsCreate) -> None:
    """Check a run before it is queued: answers against the policy, new input against pending
    requests, and the admin-only parts of a run."""
    identity = identity_of(ctx.user)
    kwargs = value.get("kwargs") or {}
    command = kwargs.get("command") or {}
    configurable = (kwargs.get("config") or {}).get("configurable") or {}
    if command.get("update") is not None or command.get("goto"):
        _forbid_unless_admin(identity, "write state with command.update or command.goto")
    if configurable.get("checkpoint_id"):
        _forbid_unless_admin(identity, "run a thread from an earlier checkpoint")
    if kwargs.get("context"):
        _forbid_unless_admin(
            identity,
            "set run-time context or configurable (it overrides the assistant's thresholds, "
            "stages and endpoints; create an assistant for other settings)",
        )
    thread_id = value.get("thread_id")
    answering, adding_input = "resume" in command, kwargs.get("input") is not None
    if thread_id is None or not (answering or adding_input):
        return  # a new thread, or a run that only continues: nothing pending to protect
    pending = await _pending_requests(str(thread_id))
    if answering and pending:
        if refusal := resume_refusal(identity, pending, command["resume"]):
            raise Auth.exceptions.HTTPException(status_code=403, detail=refusal)
    elif adding_input and pending:
        raise Auth.exceptions.HTTPException(status_code=409, detail=_still_pending(pending))


@auth.on.threads.update
async def on_thread_update(ctx: Auth.types.AuthContext, value: Auth.types.ThreadsUpdate) -> None:
    """State edits, metadata edits and rollbacks are for admins; anyone may cancel a run."""
    if value.get("action") == "interrupt":
        return
    _forbid_unless_admin(
        identity_of(ctx.user),
        "edit thread state or metadata (to close a pending request, its requester withdraws "
        'it by answering "withdraw")',
    )


@auth.on.threads.delete
async def on_thread_delete(ctx: Auth.types.AuthContext, value: Auth.types.ThreadsDelete) -> None:
    """Deleting a thread discards its requests and audit trail: admins only."""
    _forbid_unless_admin(identity_of(ctx.user), "delete threads or runs")


@auth.on.assistants.create
@auth.on.assistants.update
@auth.on.assistants.delete
async def on_assistant_change(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> None:
    """Assistants carry thresholds, stages and endpoints: admins only."""
    _forbid_unless_admin(
        identity_of(ctx.user), "create, change or delete assistants (their context is policy)"
    )


@auth.on.crons
async def on_crons(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> None:
    """Crons start runs on someone's behalf: admins only."""
    _forbid_unless_admin(identity_of(ctx.user), "manage crons")


def _forbid_unless_admin(identity: Identity | None, doing: str) -> None:
    if refusal := admin_refusal(identity, doing):
        raise Auth.exceptions.HTTPException(status_code=403, detail=refusal)


async def _pending_requests(thread_id: str) -> dict[str, dict[str, Any]]:
    """Interrupt id → approval request, for every request the thread's latest checkpoint
    waits on (none for a thread that does not exist yet). Read from the checkpoint, not the
    thread record, which a server restart can lose; through the in-process client."""
    try:
        state = await get_client().threads.get_state(thread_id)
    except Exception as error:  # noqa: BLE001 - a missing thread waits on nothing
        if getattr(getattr(error, "response", None), "status_code", None) == 404:
            return {}
        raise
    return {
        interrupt["id"]: interrupt["value"]
        for interrupt in state.get("interrupts") or []
        if isinstance(interrupt.get("value"), dict)
    }


def _still_pending(pending: dict[str, dict[str, Any]]) -> str:
    requests = "; ".join(
        f"request {request.get('request_id')} (stage {request.get('stage')!r}: "
        f"{', '.join(action['name'] for action in request.get('action_requests', []))}, "
        f"raised by {request.get('requested_by')})"
        for request in pending.values()
    )
    return (
        f"This thread waits on {requests}. Answer it first, or withdraw it (its requester or an "
        'admin resumes with "withdraw"); then send new input.'
    )
