"""What signoff tells the people who decide: one webhook event per moment of a request.

`announce(event_type, request, ...)` turns an approval request (the interrupt value) into the
event body of `signoff.signals.webhooks` and enqueues it: `approval.requested` when a review node
first shows it, `approval.reminded` and `approval.escalated` from the sweeper, `approval.decided`
and
`approval.expired` when the node accepts an answer. Event ids are stable per request and event
type, so replays of a node and several sweepers enqueue each event once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from signoff.governance.policy import deciding_groups
from signoff.protocol.summaries import arguments_line, summary_of
from signoff.settings import environment
from signoff.signals.webhooks import notify

DEFAULT_PUBLIC_URL = "http://127.0.0.1:2024"


def announce(
    event_type: str,
    request: Mapping[str, Any],
    *,
    thread_id: str,
    graph: str,
    reviewer: str | None = None,
    decision: str | None = None,
    reason: str | None = None,
) -> None:
    """Enqueue `event_type` about `request` (never raises, never waits on the network);
    nothing to build when no webhook is configured."""
    if not environment().webhook_url:
        return
    actions = request.get("action_requests") or []
    body: dict[str, Any] = {
        "thread_id": thread_id,
        "request_id": request.get("request_id"),
        "args_digest": request.get("args_digest"),
        "graph": graph,
        "stage": request.get("stage"),
        "summary": summary_of(request),
        "action": ", ".join(action.get("name", "") for action in actions),
        "args_summary": arguments_line(request),
        "requested_by": request.get("requested_by"),
        "deciders": deciding_groups(request),
        "created_at": request.get("created_at"),
        "escalates_at": request.get("escalates_at"),
        "expires_at": request.get("expires_at"),
        "link": inbox_link(thread_id, str(request.get("request_id"))),
    }
    if reviewer is not None:  # the event's `decided_by` is the deciding user (`deciders`: groups)
        body |= {"decided_by": reviewer, "decision": decision, "reason": reason}
    notify(event_type, body)


def inbox_link(thread_id: str, request_id: str) -> str:
    """Where a person opens the request: the inbox of the server at `SIGNOFF_PUBLIC_URL`."""
    base = (environment().public_url or DEFAULT_PUBLIC_URL).rstrip("/")
    return f"{base}/inbox/{quote(thread_id)}?request_id={quote(request_id)}"
