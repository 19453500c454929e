"""The inbox's triage, in process: sorting by amount, which rows get a checkbox, what a bulk
form may select, deciding each selected request on its own, and request pages that render
whatever a checkpoint holds (every value shown as text)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from signoff.client.answering import Refused
from signoff.client.pending_requests import PendingRequest
from signoff.governance.identity import Identity
from signoff.protocol.shapes import build_request
from signoff.server.inbox.bulk import (
    MAX_SELECTED,
    BulkResult,
    Selected,
    decide_each,
    selection,
)
from signoff.server.inbox.decisions import answer_from_form, request_view
from signoff.server.inbox.display import TEMPLATES, conversation, own_description, titles
from signoff.server.inbox.queue import Filters, list_page
from tests.property_settings import EXAMPLES

ALICE = Identity("alice@signoff.local", frozenset({"users"}))
BOB = Identity("bob@signoff.local", frozenset({"managers", "support-leads"}))
REFUND = "main__support__issue_refund"
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


def pending(
    n: int, args: dict[str, Any], *, name: str = "payment", requested_by: str = ALICE.user
) -> PendingRequest:
    """The n-th pending request (raised n minutes after 09:00), of one action."""
    request = build_request(
        [{"name": name, "args": args, "description": "Moves money."}],
        [["approve", "reject"]],
        request_id=f"r{n}",
        stage="review",
        requested_by=requested_by,
        decided_by=["managers"],
        deadlines={"created_at": f"2026-11-21T09:{n:02d}:00+00:00"},
    )
    return PendingRequest(f"t{n}", "approve_reject", "approve_reject", f"i{n}", request)


def test_sorting_by_amount_puts_the_largest_first_and_requests_without_one_last():
    requests = [
        pending(1, {"amount": 5000}),
        pending(2, {"to": ["ops@example.com"]}),
        pending(3, {"amount": 980000}),
        pending(4, {"amount": 12500.5}),
        pending(5, {"amount": 5000}),
        pending(6, {"amount": True}),  # not an amount
    ]
    by_amount = list_page(requests, BOB, Filters.from_query({"sort": "amount"}))
    assert [r.request_id for r in by_amount.requests] == ["r3", "r4", "r1", "r5", "r2", "r6"]
    default = list_page(requests, BOB, Filters.from_query({}))
    assert [r.request_id for r in default.requests] == ["r1", "r2", "r3", "r4", "r5", "r6"]


def test_only_requests_the_user_may_decide_get_a_checkbox():
    requests = [pending(1, {"amount": 1}), pending(2, {"amount": 2}, requested_by=BOB.user)]
    assert list_page(requests, BOB, Filters()).decidable == {"r1"}  # r2: his own
    assert list_page(requests, ALICE, Filters()).decidable == set()  # she raised both


def test_a_refused_decision_says_what_is_allowed_and_why_not():
    own = request_view(BOB, pending(1, {"amount": 1}, requested_by=BOB.user), None)
    with pytest.raises(Refused) as refused:
        answer_from_form("approve", own, {})
    assert "you may: withdraw." in str(refused.value)
    assert "raised this request, so cannot decide it (four-eyes)" in str(refused.value)


THREAD = str(uuid.uuid4())
D = "d" * 64
"""The digest of the arguments a row showed."""


def test_a_selection_is_each_request_once_in_order():
    values = [f"{THREAD}/r1/{D}", f"{THREAD.upper()}/r2/{D}", f"{THREAD}/r1/{D}"]
    assert selection("reject", values) == (
        "reject",
        [Selected(THREAD, "r1", D), Selected(THREAD, "r2", D)],
    )


@pytest.mark.parametrize(
    ("decision", "values", "says"),
    [
        ("edit", [f"{THREAD}/r1/{D}"], "Approve selected or Reject selected"),
        ("approve", [], "No request was selected"),
        ("approve", [f"{THREAD}/r{n}/{D}" for n in range(MAX_SELECTED + 1)], "at most 100 at once"),
        ("approve", [f"{THREAD}/r1"], "does not name a request of this inbox"),  # no digest
        ("approve", [f"{THREAD}/r1/not-a-digest"], "does not name a request of this inbox"),
        ("approve", ["../assistants/r1"], "does not name a request of this inbox"),
        ("approve", [f"{THREAD}/"], "does not name a request of this inbox"),
        ("approve", [f"{THREAD}/{'r' * 201}/{D}"], "does not name a request of this inbox"),
    ],
)
def test_a_selection_that_cannot_be_decided_is_refused_whole(decision, values, says):
    with pytest.raises(Refused, match=says) as refused:
        selection(decision, values)
    assert refused.value.status == 400


@EXAMPLES
@given(st.sampled_from(["approve", "reject", "edit", ""]), st.lists(st.text(), max_size=120))
def test_any_posted_selection_is_refused_or_names_real_thread_ids(decision, values):
    try:
        decided, chosen = selection(decision, values)
    except Refused as refused:
        assert refused.status == 400 and str(refused)
        return
    assert decided == decision and 1 <= len(chosen) <= MAX_SELECTED
    assert all(str(uuid.UUID(s.thread_id)) == s.thread_id and s.request_id for s in chosen)


async def test_each_request_is_decided_on_its_own_and_a_refusal_stops_no_other():
    other = str(uuid.uuid4())
    chosen = [
        Selected(THREAD, "ok-1", D),
        Selected(other, "refused", D),
        Selected(THREAD, "ok-2", D),
        Selected(other, "server-down", D),
        Selected(other, "ok-3", D),
    ]
    busy: set[str] = set()
    done: list[str] = []

    async def decide(selected: Selected) -> None:
        assert selected.thread_id not in busy  # one thread's requests one after another
        busy.add(selected.thread_id)
        await asyncio.sleep(0)
        busy.discard(selected.thread_id)
        if selected.request_id == "refused":
            raise Refused("someone else decided it", 409)
        if selected.request_id == "server-down":
            raise httpx.ConnectError("connection refused")
        done.append(selected.request_id)

    outcomes = await decide_each(chosen, decide, lambda s: f"label {s.request_id}")
    assert [o.selected for o in outcomes] == chosen
    assert sorted(done) == ["ok-1", "ok-2", "ok-3"]
    result = BulkResult("approve", outcomes)
    assert result.headline == "Approved 3 of 5 selected requests."
    assert [(o.label, o.refusal) for o in result.refused] == [
        ("label refused", "someone else decided it"),
        (
            "label server-down",
            "The server failed while answering it (connection refused); try it again on its page.",
        ),
    ]


def rendered(request: PendingRequest) -> str:
    """The request page of `request`, as bob sees it."""
    view = request_view(BOB, request, None)
    return TEMPLATES.get_template("request.html").render(
        session=None,
        views=[view],
        thread_id=request.thread_id,
        heading="",
        audit=[{"action": REFUND, "decision": "approve"}, {"action": 7}],
        hidden=lambda *_: Markup(""),
    )


def test_a_tool_call_shows_its_title_and_its_conversation_above_the_arguments():
    refund = pending(1, {"order_id": 3, "amount": 5.0}, name=REFUND)
    refund.request["conversation"] = {"user": "refund 5 <b>now</b>", "assistant": "  "}
    page = rendered(refund)
    assert REFUND not in page and titles(refund.request) == "Issue refund"
    assert page.index("refund 5 &lt;b&gt;now&lt;/b&gt;") < page.index("Arguments of Issue refund")
    assert "The model&#39;s reply" not in page  # blank: not shown
    description = refund.request["action_requests"][0]["description"]
    assert description == "Issue refund of 5 for order 3. Moves money."  # as Agent Inbox shows it
    assert own_description(description, "Issue refund of 5 for order 3") == "Moves money."
    assert "<p>Moves money.</p>" in page and description not in page  # the summary is the heading


@EXAMPLES
@given(JSON, st.dictionaries(st.sampled_from(["user", "assistant"]), JSON), st.text())
def test_a_request_page_renders_whatever_the_checkpoint_holds(anything, said, summary):
    request = pending(1, {"amount": 1, "note": "<script>alert(1)</script>"})
    request.request["summary"] = f"<script>{summary}"
    request.request["conversation"] = said
    page = rendered(request)
    assert "<script>" not in page
    for key, value in said.items():
        if isinstance(value, str) and value.strip():
            assert Markup.escape(value.strip()[:50]) in page, key
    assert [message.who for message in conversation({"conversation": anything})] in (
        [],
        ["The user's last message"],
        ["The model's reply"],
        ["The user's last message", "The model's reply"],
    )
