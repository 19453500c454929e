"""Every approval request the server's threads wait on, and the numbers the inbox shows.

`pending_requests(client)` reads them from `threads.search` (only the fields it needs, page by
page) as `PendingRequest`s; the web inbox, the command line and the metrics all list them this
way. `run_on_reason` finds a thread that waits on no request but should be run on: one whose
request an admin's state edit hid until it runs again, or one whose last run stopped between
an approval and its execution (the sweeper and the inbox run both on).
`decisions_since(client, moment)` counts the audit trail's decisions since a moment, reading
only the threads updated since then; `approval_stats` puts both together as the numbers the
inbox's panel and `signoff stats` show. Every reader skips (and logs) what it cannot read: a
malformed request (`signoff.protocol.interrupts.approval_interrupts`), an audit trail or entry
that is not one, a thread the server cannot send (`thread_pages`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any, Literal

from langgraph_sdk.client import LangGraphClient

from signoff import clock
from signoff.client.thread_pages import searched_threads
from signoff.execution.approved import approved_not_run
from signoff.governance.policy import deciding_groups
from signoff.protocol.interrupts import approval_interrupts, waiting_interrupts
from signoff.protocol.shapes import ApprovalRequest
from signoff.protocol.summaries import summary_of, tool_title


@dataclass(frozen=True)
class PendingRequest:
    """One approval request a thread waits on, with where it waits."""

    thread_id: str
    graph: str
    """The graph the thread runs (its `graph_id`)."""
    assistant_id: str
    """The assistant that runs the thread (its context set the request's deadlines)."""
    interrupt_id: str
    """The key that answers it in a resume map."""
    request: ApprovalRequest

    @property
    def request_id(self) -> str:
        """The request's id (stable across re-pauses of it)."""
        return self.request["request_id"]

    @property
    def stage(self) -> str:
        """The approval stage asked, e.g. `review`, `manager`."""
        return self.request["stage"]

    @property
    def action(self) -> str:
        """The names of the actions it shows, e.g. `issue_refund`."""
        return ", ".join(action["name"] for action in self.request["action_requests"])

    @property
    def title(self) -> str:
        """The actions it shows, in words (`summaries.tool_title`), e.g. `Issue refund`."""
        return action_titles(self.request)

    @property
    def summary(self) -> str:
        """Its one line (`summaries.summary_of`), e.g. `payment of 5,000 USD to acct-9`."""
        return summary_of(self.request)

    @property
    def may_decide(self) -> list[str]:
        """The groups whose members may decide it now (escalation included)."""
        return deciding_groups(self.request)

    @property
    def created_at(self) -> str:
        """When it was raised (ISO 8601, UTC); `""` if unknown."""
        return self.request.get("created_at") or ""

    @property
    def expires_at(self) -> str | None:
        """When it expires, if its policy sets an expiry."""
        return self.request.get("expires_at")

    def as_row(self) -> dict[str, Any]:
        """The flat record scripts get (`signoff pending --json`)."""
        return {
            "thread_id": self.thread_id,
            "summary": self.summary,
            "title": self.title,
            "graph": self.graph,
            "stage": self.stage,
            "action": self.action,
            "requested_by": self.request.get("requested_by"),
            "decided_by": self.request.get("decided_by"),
            "may_decide": self.may_decide,
            "created_at": self.created_at or None,
            "escalates_at": self.request.get("escalates_at"),
            "expires_at": self.expires_at,
            "request_id": self.request_id,
            "progress": progress["summary"] if (progress := self.request.get("progress")) else None,
        }


def action_titles(request: ApprovalRequest) -> str:
    """The actions `request` shows, in words (`summaries.tool_title`), joined by commas."""
    return ", ".join(tool_title(action["name"]) for action in request["action_requests"])


async def pending_requests(client: LangGraphClient) -> AsyncIterator[PendingRequest]:
    """Every approval request of every interrupted thread `client` can read."""
    fields = ["thread_id", "metadata", "interrupts"]
    async for thread in searched_threads(client, status="interrupted", select=fields):
        for request in requests_of(thread, waiting_interrupts(thread)):
            yield request


def requests_of(
    thread: dict[str, Any], interrupts: Iterable[dict[str, Any]]
) -> list[PendingRequest]:
    """The approval requests among `interrupts` (server `{"id", "value"}` records) that the
    server thread record `thread` waits on."""
    metadata = metadata_of(thread)
    graph = str(metadata.get("graph_id") or "")
    return [
        PendingRequest(
            thread_id=thread["thread_id"],
            graph=graph,
            assistant_id=str(metadata.get("assistant_id") or graph),
            interrupt_id=interrupt["id"],
            request=interrupt["value"],
        )
        for interrupt in approval_interrupts(interrupts)
    ]


RunOn = Literal["show again", "finish"]
"""Why a thread that waits on no request should be run on (without input)."""


async def run_on_reason(client: LangGraphClient, thread_id: str) -> RunOn | None:
    """Why `thread_id`, which waits on no request but has work left, should be run on:

    - "show again": an admin's `update_state` edited it while a review node waited, and that
      node is next again, so running it raises the request as it now is (an edit that moved
      the thread past its review is not this: nobody but whoever made it should run it on);
    - "finish": its last run stopped (cancelled, or its worker died) after an approval and
      before the execution, so running it runs what was approved, once.

    `None` for every other thread."""
    latest, *before = await client.threads.get_history(thread_id, limit=2)
    upcoming = set(latest.get("next") or [])
    if not upcoming or latest.get("interrupts"):
        return None
    if (latest.get("metadata") or {}).get("source") == "loop":
        return "finish" if approved_not_run(latest.get("values")) else None
    asking = {
        task["name"]
        for task in (before[0].get("tasks") or [] if before else [])
        if approval_interrupts(task.get("interrupts") or [])
    }
    return "show again" if upcoming <= asking else None


async def every_pending_request(client: LangGraphClient) -> list[PendingRequest]:
    """`pending_requests(client)`, as a list."""
    return [request async for request in pending_requests(client)]


async def decisions_since(client: LangGraphClient, moment: datetime) -> Counter[str]:
    """Audit entries recorded at or after `moment`, counted by decision. Threads come newest
    update first, so the scan stops at the first thread untouched since `moment`."""
    since = moment.isoformat()
    counted: Counter[str] = Counter()
    newest_first = {"sort_by": "updated_at", "sort_order": "desc"}
    fields = ["updated_at", "values"]
    async for thread in searched_threads(client, select=fields, **newest_first):
        if _iso(thread.get("updated_at")) < since:
            break
        for entry in _trail(thread.get("values")):
            if str(entry.get("at", "")) >= since:
                counted[str(entry.get("decision"))] += 1
    return counted


def metadata_of(thread: dict[str, Any]) -> dict[str, Any]:
    """A server thread record's metadata (empty unless it is an object)."""
    metadata = thread.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _trail(values: Any) -> list[dict[str, Any]]:
    """The entries of a thread's audit trail that are entries at all."""
    audit = values.get("audit") if isinstance(values, dict) else None
    return [entry for entry in audit if isinstance(entry, dict)] if isinstance(audit, list) else []


def _iso(value: Any) -> str:
    """A server timestamp (text or datetime) as ISO 8601 text, comparable with audit times."""
    return value.isoformat() if isinstance(value, datetime) else str(value or "")


@dataclass(frozen=True)
class ApprovalStats:
    """Pending requests by graph, the oldest one's `created_at`, and today's decisions."""

    pending_by_graph: Counter[str]
    oldest: str | None
    decisions_today: Counter[str]
    """By decision (approve, edit, reject, respond, withdraw, auto_approve, state_edit)."""

    def as_dict(self) -> dict[str, Any]:
        """What `signoff stats --json` prints."""
        return {
            "pending_by_graph": dict(self.pending_by_graph),
            "oldest_waiting_since": self.oldest,
            "decisions_today": dict(self.decisions_today),
        }


def stats_of(pending: Iterable[PendingRequest], decisions_today: Counter[str]) -> ApprovalStats:
    """The stats of requests already read."""
    pending = list(pending)
    return ApprovalStats(
        pending_by_graph=Counter(request.graph for request in pending),
        oldest=min((request.created_at for request in pending if request.created_at), default=None),
        decisions_today=decisions_today,
    )


async def decisions_today(client: LangGraphClient) -> Counter[str]:
    """The audit trail's decisions since midnight UTC, by type."""
    return await decisions_since(client, datetime.combine(clock.now().date(), time(0), UTC))


async def approval_stats(client: LangGraphClient) -> ApprovalStats:
    """The stats now: every pending request, and today's decisions."""
    return stats_of(await every_pending_request(client), await decisions_today(client))
