"""The inbox's list and forms, in-process: who sees which request, filters, sorts and pages,
the edit form built from an argument schema, and the answers a form may make."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signoff.client.answering import Refused
from signoff.client.pending_requests import PendingRequest
from signoff.governance.identity import Identity
from signoff.graphs.edit_state import MessageDraft
from signoff.protocol.shapes import build_request
from signoff.server.inbox.decisions import answer_from_form, request_view
from signoff.server.inbox.forms import edit_fields, edited_args
from signoff.server.inbox.queue import PAGE_SIZE, SORTS, Cached, Filters, list_page
from tests.property_settings import EXAMPLES

ALICE = Identity("alice@signoff.local", frozenset({"users"}))
BOB = Identity("bob@signoff.local", frozenset({"managers", "support-leads"}))
CAROL = Identity("carol@signoff.local", frozenset({"security", "data-engineers"}))
ERIN = Identity("erin@signoff.local", frozenset({"signoff-admins"}))
START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def pending(
    n: int,
    *,
    graph: str = "approve_reject",
    stage: str = "review",
    deciders: tuple[str, ...] = ("managers",),
    requested_by: str = ALICE.user,
    expires_in: float | None = None,
    allowed: tuple[str, ...] = ("approve", "reject"),
    action: dict | None = None,
) -> PendingRequest:
    """The n-th pending request, raised `n` minutes after START."""
    created = START + timedelta(minutes=n)
    deadlines = {"created_at": created.isoformat()}
    if expires_in is not None:
        deadlines["expires_at"] = (created + timedelta(seconds=expires_in)).isoformat()
    request = build_request(
        [action or {"name": "payment", "args": {"amount": n}}],
        [list(allowed)],
        request_id=f"r{n}",
        stage=stage,
        requested_by=requested_by,
        decided_by=list(deciders),
        deadlines=deadlines,
    )
    return PendingRequest(f"t{n}", graph, graph, f"i{n}", request)


def shown(page) -> list[str]:
    return [request.request_id for request in page.requests]


def test_each_user_sees_what_they_may_decide_or_raised_and_admins_see_all():
    requests = [
        pending(1),
        pending(2, graph="multi_stage_approval", stage="security", deciders=("security",)),
        pending(3, requested_by=BOB.user),  # bob may not decide his own
    ]
    assert shown(list_page(requests, BOB, Filters())) == ["r1", "r3"]  # r3: raised by him
    assert shown(list_page(requests, CAROL, Filters())) == ["r2"]
    assert shown(list_page(requests, ALICE, Filters())) == ["r1", "r2"]  # she raised them
    assert shown(list_page(requests, ERIN, Filters())) == ["r1", "r2", "r3"]


def test_filters_by_graph_stage_and_role_and_offers_only_what_the_user_sees():
    requests = [
        pending(1),
        pending(2, graph="edit_state"),
        pending(3, graph="multi_stage_approval", stage="security", deciders=("security",)),
    ]
    assert shown(list_page(requests, ERIN, Filters(graph="edit_state"))) == ["r2"]
    assert shown(list_page(requests, ERIN, Filters(stage="security"))) == ["r3"]
    assert shown(list_page(requests, ERIN, Filters(role="managers"))) == ["r1", "r2"]
    page = list_page(requests, BOB, Filters())
    assert (page.graphs, page.stages, page.roles) == (
        ["approve_reject", "edit_state"],
        ["review"],
        ["managers"],
    )


def test_sorts_by_age_newest_and_deadline_with_no_deadline_last():
    requests = [pending(1), pending(2, expires_in=600), pending(3, expires_in=60)]
    assert shown(list_page(requests, BOB, Filters(sort="age"))) == ["r1", "r2", "r3"]
    assert shown(list_page(requests, BOB, Filters(sort="newest"))) == ["r3", "r2", "r1"]
    assert shown(list_page(requests, BOB, Filters(sort="deadline"))) == ["r3", "r2", "r1"]


def test_pages_of_fifty_and_a_page_past_the_end_shows_the_last():
    requests = [pending(n) for n in range(2 * PAGE_SIZE + 7)]
    first = list_page(requests, BOB, Filters())
    assert (first.total, first.pages, len(first.requests)) == (2 * PAGE_SIZE + 7, 3, PAGE_SIZE)
    last = list_page(requests, BOB, Filters(page=99))
    assert last.page == 3 and shown(last) == [
        f"r{n}" for n in range(2 * PAGE_SIZE, 2 * PAGE_SIZE + 7)
    ]


@EXAMPLES
@given(st.dictionaries(st.sampled_from(["graph", "stage", "role", "sort", "page", "x"]), st.text()))
def test_any_query_string_gives_a_page(query):
    filters = Filters.from_query(query)
    assert filters.sort in SORTS and filters.page >= 1
    page = list_page([pending(n) for n in range(3)], ERIN, filters)
    assert 1 <= page.page <= page.pages


DRAFT = {"to": ["ops@example.com"], "subject": "The outage", "body": "Hello"}
DRAFT_ACTION = {
    "name": "send_message",
    "args": DRAFT,
    "args_schema": MessageDraft.model_json_schema(),
}


def test_the_edit_form_follows_the_argument_schema():
    fields = {field.name: field for field in edit_fields(DRAFT_ACTION)}
    assert {name: field.kind for name, field in fields.items()} == {
        "to": "lines",
        "subject": "text",
        "body": "textarea",
    }
    assert fields["to"].value == "ops@example.com" and fields["to"].required
    assert "One per line" in fields["to"].help and "Recipient" in fields["to"].help


def test_posted_values_refill_the_form_and_read_back_as_json_types():
    posted = {"to": "a@example.com\n\n b@example.com ", "subject": "Hi", "body": "x"}
    fields = edit_fields(DRAFT_ACTION, posted)
    assert fields[0].value == posted["to"]
    assert edited_args(fields, posted) == {
        "to": ["a@example.com", "b@example.com"],
        "subject": "Hi",
        "body": "x",
    }
    guessed = edit_fields({"name": "pay", "args": {"amount": 5, "urgent": True, "meta": {"a": 1}}})
    assert [field.kind for field in guessed] == ["integer", "checkbox", "json"]
    assert edited_args(guessed, {"amount": "12", "meta": "not json"}) == {
        "amount": 12,
        "urgent": False,
        "meta": "not json",  # passed on: the review node's validation names what is wrong
    }


@EXAMPLES
@given(
    st.lists(st.emails(), min_size=1, max_size=5),
    st.text(min_size=1, max_size=50).filter(lambda t: "\r" not in t),
    st.text(min_size=1, max_size=200).filter(lambda t: "\r" not in t),
)
def test_an_unchanged_form_posts_back_the_arguments_shown(to, subject, body):
    draft = {"to": to, "subject": subject, "body": body}
    action = {**DRAFT_ACTION, "args": draft}
    fields = edit_fields(action)
    assert edited_args(fields, {f.name: f.value for f in fields}) == draft


def test_offers_follow_the_request_and_the_policy_and_refuse_the_rest():
    draft = pending(
        1, graph="edit_state", allowed=("approve", "edit", "reject"), action=DRAFT_ACTION
    )
    assert request_view(BOB, draft, None).offers == ["approve", "edit", "reject"]
    assert request_view(ALICE, draft, None).offers == ["withdraw"]
    assert "needs a member of managers" in request_view(CAROL, draft, None).refusal
    assert request_view(ERIN, draft, None).offers == ["withdraw"]  # admin: withdraw, not decide
    with pytest.raises(Refused, match="you may: withdraw"):
        answer_from_form("approve", request_view(ALICE, draft, None), {})
    view = request_view(BOB, draft, None)
    assert answer_from_form("approve", view, {"message": " ok "}) == {
        "decisions": [{"type": "approve", "message": "ok"}]
    }
    edit = answer_from_form(
        "edit", view, {"arg.to": "x@example.com", "arg.subject": "s", "arg.body": "b"}
    )
    assert edit["decisions"][0]["edited_action"] == {
        "name": "send_message",
        "args": {"to": ["x@example.com"], "subject": "s", "body": "b"},
    }


async def test_the_shared_list_is_read_once_then_again_in_the_background_when_stale():
    reads: list[int] = []
    release = asyncio.Event()

    async def read(_client) -> list[int]:
        reads.append(len(reads))
        if len(reads) > 1:
            await release.wait()  # a slow server: views meanwhile get the last list
        return list(reads)

    cached = Cached(read, max_age=0.0)
    assert await asyncio.gather(cached.current(None), cached.current(None)) == [[0], [0]]
    assert await cached.current(None) == [0]  # stale: a read starts, this view does not wait
    await asyncio.sleep(0)  # the read is under way, waiting on the server
    assert await cached.current(None) == [0] and len(reads) == 2  # one read at a time
    release.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert await cached.current(None) == [0, 1]
    cached.update(lambda value: [*value, 99])  # what the inbox itself just changed
    assert (await cached.current(None))[:3] == [0, 1, 99]


async def test_a_failed_background_read_keeps_the_last_list():
    outcomes = iter([["first"], RuntimeError("server down"), ["third"]])

    async def read(_client):
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    cached = Cached(read, max_age=0.0)
    assert await cached.current(None) == ["first"]
    assert await cached.current(None) == ["first"]  # the failing read starts in background
    await asyncio.sleep(0.01)
    assert await cached.current(None) == ["first"]  # kept; another read starts
    await asyncio.sleep(0.01)
    assert await cached.current(None) == ["third"]
