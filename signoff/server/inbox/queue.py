"""The inbox's list: which pending requests a user sees, filtered, sorted and cut into pages.

A user sees the requests they may decide now (`signoff.governance.policy`, escalation included) and
those they raised (which they may withdraw); admins see every one. Filters: graph, stage and
role (a group allowed to decide). Sorts: oldest first, newest first, soonest deadline first
(requests without an expiry last), or largest amount first (`signoff.protocol.summaries.amount_of`:
requests that move no amount last, oldest first among equals).

Every pending request is read from the server once for all users (`pending_index`) and
read again in the background when a page view finds the list older than
`SIGNOFF_INBOX_CACHE_SECONDS` (default 2); the request a user just answered leaves the list at
once. Each page view filters, sorts and pages that list in memory, which is what keeps a page
fast with 10,000 requests pending. Today's decisions, for the stats panel, are counted the
same way, at most once per 30 s (`todays_decisions`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from langgraph_sdk.client import LangGraphClient

from signoff.client.pending_requests import PendingRequest, decisions_today, every_pending_request
from signoff.governance.delegation import Delegation
from signoff.governance.identity import Identity
from signoff.governance.policy import deciding_groups, decision_refusal, is_admin
from signoff.protocol.summaries import amount_of
from signoff.settings import environment

log = logging.getLogger(__name__)
PAGE_SIZE = 50
T = TypeVar("T")
Sort = Literal["age", "newest", "deadline", "amount"]
SORTS: tuple[Sort, ...] = ("age", "newest", "deadline", "amount")
NO_DEADLINE = "~"
"""Sorts after every ISO 8601 time."""


@dataclass(frozen=True)
class Filters:
    """What the list page asks for (its query string)."""

    graph: str = ""
    stage: str = ""
    role: str = ""
    sort: Sort = "age"
    page: int = 1

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filters:
        """The filters in a query string; anything unreadable falls back to its default."""
        sort = query.get("sort", "age")
        page = query.get("page", "1")
        return cls(
            graph=query.get("graph", ""),
            stage=query.get("stage", ""),
            role=query.get("role", ""),
            sort=sort if sort in SORTS else "age",
            page=max(1, int(page)) if page.isascii() and page.isdigit() and len(page) < 7 else 1,
        )


@dataclass(frozen=True)
class ListPage:
    """One page of a user's list, with what the filter menus offer."""

    requests: list[PendingRequest]
    total: int
    """How many match the filters, on every page."""
    page: int
    pages: int
    graphs: list[str]
    stages: list[str]
    roles: list[str]
    """The values the filters offer: those of the requests the user sees."""
    decidable: frozenset[str]
    """The ids of the requests on this page the user may decide now (their checkboxes)."""


def may_decide(
    identity: Identity, request: PendingRequest, delegations: Sequence[Delegation] = ()
) -> bool:
    """Whether `identity` may decide `request` now (as themselves, or for a delegator)."""
    return decision_refusal(identity, request.request, delegations=delegations) is None


def seen_by(
    pending: Sequence[PendingRequest],
    identity: Identity,
    delegations: Sequence[Delegation] = (),
) -> list[PendingRequest]:
    """The requests of `pending` that `identity`'s list shows: those they may decide now and
    those they raised; every one to an admin."""
    admin = is_admin(identity)
    return [
        request
        for request in pending
        if admin
        or request.request.get("requested_by") == identity.user
        or may_decide(identity, request, delegations)
    ]


def list_page(
    pending: Sequence[PendingRequest],
    identity: Identity,
    filters: Filters,
    delegations: Sequence[Delegation] = (),
) -> ListPage:
    """The page of `pending` that `identity` (standing in for others by `delegations`) asked
    for with `filters`."""
    seen = seen_by(pending, identity, delegations)
    matching = [
        request
        for request in seen
        if filters.graph in ("", request.graph)
        and filters.stage in ("", request.stage)
        and (not filters.role or filters.role in deciding_groups(request.request))
    ]
    if filters.sort == "deadline":
        matching.sort(key=lambda r: (r.expires_at or NO_DEADLINE, r.created_at))
    elif filters.sort == "amount":
        matching.sort(key=_largest_amount_first)
    else:
        matching.sort(key=lambda r: r.created_at, reverse=filters.sort == "newest")
    pages = max(1, math.ceil(len(matching) / PAGE_SIZE))
    page = min(filters.page, pages)
    shown = matching[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return ListPage(
        requests=shown,
        total=len(matching),
        page=page,
        pages=pages,
        graphs=sorted({r.graph for r in seen}),
        stages=sorted({r.stage for r in seen}),
        roles=sorted({g for r in seen for g in deciding_groups(r.request)}),
        decidable=frozenset(r.request_id for r in shown if may_decide(identity, r, delegations)),
    )


def _largest_amount_first(request: PendingRequest) -> tuple[bool, float, str]:
    amount = amount_of(request.request)
    return amount is None, -(amount or 0.0), request.created_at


class Cached(Generic[T]):
    """What `read(client)` returns, shared by every page view: the first view waits for it;
    later ones get the last value at once, and one that finds it older than `max_age` seconds
    starts a read in the background for the views after it (stale-while-revalidate). A read
    that fails keeps the last value and is logged."""

    def __init__(self, read: Callable[[LangGraphClient], Awaitable[T]], max_age: float) -> None:
        self._read, self.max_age = read, max_age
        self._read_at = -math.inf
        self._value: T | None = None
        self._first_read = asyncio.Lock()
        self._reading: asyncio.Task[None] | None = None

    async def current(self, client: LangGraphClient) -> T:
        """The last value read, reading it first if there is none yet."""
        if self._value is None:
            async with self._first_read:  # everyone who asks at once waits for one read
                if self._value is None:
                    await self._refresh(client)
        elif time.monotonic() - self._read_at > self.max_age and not self._busy():
            self._reading = asyncio.create_task(self._refresh(client))
        assert self._value is not None
        return self._value

    def update(self, change: Callable[[T], T]) -> None:
        """Apply what the inbox itself just changed, and read again at the next view."""
        if self._value is not None:
            self._value = change(self._value)
        self.read_again()

    def read_again(self) -> None:
        """Start a read at the next view (something changed that the inbox cannot apply)."""
        self._read_at = -math.inf

    def _busy(self) -> bool:
        return self._reading is not None and not self._reading.done()

    async def _refresh(self, client: LangGraphClient) -> None:
        started = time.monotonic()
        try:
            self._value = await self._read(client)
            self._read_at = started
        except Exception:  # noqa: BLE001 - a page keeps the last list; the next view retries
            log.exception("Reading the inbox's list failed; showing the last one read")
            if self._value is None:
                raise


def pending_index() -> Cached[list[PendingRequest]]:
    """Every pending request, read at most once per `SIGNOFF_INBOX_CACHE_SECONDS` (default 2)."""
    max_age = environment().inbox_cache_seconds
    return Cached(every_pending_request, max_age)


def todays_decisions() -> Cached[Counter[str]]:
    """Today's decisions, counted at most once per 30 s."""
    return Cached(decisions_today, 30.0)
