"""Answer one pending request through the server's API, as the signed-in user, and say how it
went: the one way the web inbox and the command line decide.

`answer_request` resumes the thread with the answer keyed by the request's interrupt and
carrying its `request_id`, so an answer can never land on another request (a later stage, a
re-shown draft), waits for the run, and raises `Refused` with the server's own words when the
server refuses it (401/403/409) or the request pauses again with an `error` (an invalid edit,
an answer it does not allow). The server's auth and the review node decide; nothing here does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import httpx
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import ThreadState

from signoff.protocol.interrupts import (
    approval_interrupts,
    pending_request,
    version_refusals,
)
from signoff.protocol.shapes import ApprovalRequest


class Refused(Exception):
    """The server refused the answer, or the request did not accept it; the message is the
    server's (who may decide, or what is accepted)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status
        """The server's error status (401, 403, 404, 409), or 422 for an answer the request
        did not accept."""


@dataclass(frozen=True)
class Answered:
    """An answer the request took."""

    request: ApprovalRequest
    """The request it answered, as it was shown."""
    after: ThreadState
    """The thread's state once the run it started ended (`threads.get_state`)."""


async def answer_request(
    client: LangGraphClient,
    thread_id: str,
    answer: dict[str, Any],
    request_id: str | None = None,
    reader: LangGraphClient | None = None,
) -> Answered:
    """Send `answer` to the request `request_id` of `thread_id` (the only one pending, when
    `None`); the request it answered and the thread's state after. `reader` (default:
    `client`) reads that state: the server's own client, for a sign-in that may not outlive a
    long run. Raises `Refused`."""
    try:
        state = await client.threads.get_state(thread_id)
        pending = approval_interrupts(state.get("interrupts") or [])
        matching = [i for i in pending if request_id in (None, i["value"]["request_id"])]
        if len(matching) != 1:
            unread = [] if matching else version_refusals(state.get("interrupts") or [])
            raise Refused(" ".join(unread) or _not_one(thread_id, pending, request_id), 409)
        [interrupt] = matching
        request: ApprovalRequest = interrupt["value"]
        resume = {interrupt["id"]: {**answer, "request_id": request["request_id"]}}
        assistant = await _assistant_of(client, thread_id)
        await client.runs.wait(thread_id, assistant, command={"resume": resume})
        after = await (reader or client).threads.get_state(thread_id)
    except httpx.HTTPStatusError as error:  # the SDK raises this or its subclasses
        raise Refused(server_message(error), error.response.status_code) from None
    again = pending_request(after.get("interrupts") or [], request["request_id"])
    if again is not None and again["value"]["error"]:
        raise Refused(again["value"]["error"])
    return Answered(request, after)


async def continue_thread(client: LangGraphClient, thread_id: str) -> None:
    """Run a thread that waits on no request but has work left (after an admin's state edit
    of a paused request), so that it shows its request again; raises `Refused`."""
    try:
        assistant = await _assistant_of(client, thread_id)
        await client.runs.wait(thread_id, assistant, input=None, multitask_strategy="reject")
    except httpx.HTTPStatusError as error:
        raise Refused(server_message(error), error.response.status_code) from None


def server_message(error: httpx.HTTPStatusError) -> str:
    """The `detail` the server gave with an error status, or its body."""
    try:
        return str(error.response.json().get("detail") or error.response.text)
    except ValueError:
        return error.response.text


async def _assistant_of(client: LangGraphClient, thread_id: str) -> str:
    """The assistant that runs `thread_id`: a run on it applies its context (deadlines,
    thresholds), as the runs that raised the request did. The server records it in the
    thread's metadata on every run, and only a thread that has run waits on a request or has
    work left."""
    thread = await client.threads.get(thread_id)
    return cast(str, (thread.get("metadata") or {}).get("assistant_id"))


def _not_one(thread_id: str, pending: list[dict[str, Any]], request_id: str | None) -> str:
    ids = ", ".join(interrupt["value"]["request_id"] for interrupt in pending)
    if not pending:
        return f"Thread {thread_id} waits for no decision now."
    if request_id is not None:
        return (
            f"Request {request_id} is no longer pending on thread {thread_id}; it waits on {ids}."
        )
    return f"Thread {thread_id} waits on {len(pending)} requests ({ids}): pick one by its id."
