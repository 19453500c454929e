"""Every reader of the threads fails soft, one thread at a time: property-based tests.

Hypothesis builds lists of thread records as `threads.search` returns them, some holding
well-formed approval requests and some anything at all where a request, a trail, metadata or
values would be, plus threads the server cannot send (an error status on their page). The
pending list, the stats, the metrics, every user's inbox page, who may see each thread and
the sweeper all answer; every well-formed request is still listed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from signoff.client.pending_requests import approval_stats, every_pending_request, metadata_of
from signoff.client.sweeper import sweep
from signoff.client.thread_pages import PAGE, searched_threads
from signoff.governance.visibility import viewers_of
from signoff.protocol.interrupts import readable_request, waiting_interrupts
from signoff.server.inbox.queue import Filters, list_page
from signoff.signals.metrics import exposition
from tests.dev_users import TOKENS
from tests.in_process import dev_identity
from tests.property_settings import EXAMPLES

ANYTHING = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
REQUEST = st.fixed_dictionaries(
    {
        "action_requests": st.just([{"name": "payment", "args": {"amount": 5000}}]),
        "review_configs": st.just([{"action_name": "payment", "allowed_decisions": ["approve"]}]),
        "request_id": st.uuids().map(str),
        "args_digest": st.just("d"),
        "stage": st.sampled_from(["review", "manager"]),
        "requested_by": st.sampled_from(["alice@signoff.local", "bob@signoff.local"]),
        "decided_by": st.sampled_from([["managers"], ["security"]]),
        "error": st.none(),
        "created_at": st.just("2026-11-30T10:00:00.000+00:00"),
        "expires_at": st.just("2999-01-01T00:00:00.000+00:00"),
    }
)
BROKEN_REQUEST = REQUEST.flatmap(
    lambda request: st.sampled_from(sorted(request)).flatmap(
        lambda key: ANYTHING.map(lambda junk: {**request, key: junk})
    )
)
VALUE = REQUEST | BROKEN_REQUEST | ANYTHING
THREAD = st.fixed_dictionaries(
    {
        "thread_id": st.uuids().map(str),
        "metadata": st.one_of(ANYTHING, st.just({"graph_id": "approve_reject"})),
        "values": st.one_of(ANYTHING, st.fixed_dictionaries({"audit": ANYTHING})),
        "interrupts": st.one_of(
            ANYTHING,
            st.lists(VALUE, max_size=2).map(
                lambda vs: {"task": [{"id": f"i{n}", "value": v} for n, v in enumerate(vs)]}
            ),
        ),
        "updated_at": st.one_of(st.just("2026-11-30T10:00:00+00:00"), ANYTHING),
        "status": st.just("interrupted"),
    }
)


class Client:
    """A `threads.search` over `threads` (one page of `PAGE`), whose pages holding a thread
    at a position in `unsendable` fail as the server does for a thread it cannot send."""

    def __init__(self, threads: list[dict[str, Any]], unsendable: set[int]) -> None:
        self.threads = self
        self.runs = self
        self.records, self.unsendable = threads, unsendable
        self.started: list[str] = []

    async def search(self, *, limit: int, offset: int, **_: Any) -> list[dict[str, Any]]:
        """The records from `offset`; a 500 if one of them cannot be sent."""
        if self.unsendable & set(range(offset, offset + limit)):
            request = httpx.Request("POST", "http://server/threads/search")
            response = httpx.Response(500, request=request)
            raise httpx.HTTPStatusError("500", request=request, response=response)
        return self.records[offset : offset + limit]

    async def get_history(self, thread_id: str, limit: int) -> list[dict[str, Any]]:
        """A thread that waits on nothing and has nothing left to do."""
        return [{"next": [], "interrupts": [], "values": {}, "metadata": {}}]

    async def create(self, thread_id: str, assistant: str, **_: Any) -> dict[str, Any]:
        """A run started (the sweeper's expiries)."""
        self.started.append(thread_id)
        return {}


@EXAMPLES
@given(threads=st.lists(THREAD, max_size=6), unsendable=st.sets(st.integers(0, 5), max_size=2))
def test_every_reader_answers_and_lists_every_well_formed_request(threads, unsendable) -> None:
    client = Client(threads, unsendable)
    pending = asyncio.run(every_pending_request(client))  # type: ignore[arg-type]
    asyncio.run(approval_stats(client))  # type: ignore[arg-type]
    exposition(pending)
    for user in TOKENS:
        list_page(pending, dev_identity(user), Filters())
    report = asyncio.run(sweep(client))  # type: ignore[arg-type]
    assert report.expired == []  # nothing listed is due
    for thread in threads:
        viewers_of(metadata_of(thread), thread["values"], waiting_interrupts(thread))
    sendable = [t for n, t in enumerate(threads) if n not in unsendable]
    expected = {
        interrupt["value"]["request_id"]
        for thread in sendable
        if isinstance(thread["interrupts"], dict)
        for interrupt in thread["interrupts"].get("task", [])
        if isinstance(interrupt["value"], dict) and readable_request(interrupt["value"])
    }
    assert {request.request_id for request in pending} == expected


def test_a_page_that_fails_is_read_one_thread_at_a_time() -> None:
    threads = [{"thread_id": str(n), "metadata": {}, "interrupts": {}} for n in range(PAGE + 3)]
    client = Client(threads, {5})
    read = asyncio.run(_all(client))
    assert [t["thread_id"] for t in read] == [str(n) for n in range(PAGE + 3) if n != 5]


async def _all(client: Client) -> list[dict[str, Any]]:
    return [thread async for thread in searched_threads(client)]  # type: ignore[arg-type]
