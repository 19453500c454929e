"""The shipped policy through the real server: "Payments up to 1,000 need nobody. Up to
10,000, one manager. Above that, a manager and someone from finance: two different people."

Each vote is its own answer through `langgraph-sdk`; the server's auth refuses a vote that
would not count (a second manager, a second vote, the requester) with 403 before anything is
written, and says what the request still waits for; the thread stays pending and answerable.
"""

from __future__ import annotations

from tests.integration.conftest import Flow
from tests.integration.test_authorization import refused_with

SMALL = {"operation": {"kind": "payment", "amount": 800, "target": "acct-9"}}
MEDIUM = {"operation": {"kind": "payment", "amount": 9_000, "target": "acct-9"}}
LARGE = {"operation": {"kind": "payment", "amount": 25_000, "target": "acct-9"}}


async def test_up_to_1000_nobody_is_asked_and_the_requirement_is_audited(flow):
    run: Flow = flow("approve_reject")
    values = await run.start(SMALL, assistant="approve_reject")
    assert values["status"] == "executed" and values["reviewers"] == ["system"]
    [entry] = values["audit"]
    assert "requirement 'small payments'" in entry["comment"]


async def test_up_to_10000_one_manager_decides(flow):
    run: Flow = flow("approve_reject")
    await run.start(MEDIUM, assistant="approve_reject")
    request = await run.request()
    assert request["need"]["requirement"] == "one manager up to 10,000"
    values = await run.resume("approve", as_user="bob")
    assert values["status"] == "executed" and len(run.executions()) == 1


async def test_above_10000_a_manager_and_finance_decide_through_the_api(flow):
    run: Flow = flow("approve_reject")
    await run.start(LARGE, assistant="approve_reject")
    request = await run.request()
    assert request["decided_by"] == ["finance", "managers"]
    assert request["progress"]["summary"] == "0 of 2: waiting for 1 of managers and 1 of finance"

    values = await run.resume("approve", as_user="bob")
    assert values.get("status") is None and run.executions() == []
    waiting = await run.request()
    assert waiting["progress"]["summary"] == (
        "1 of 2: bob@signoff.local approved; waiting for 1 of finance"
    )

    detail = await refused_with(403, run.resume("approve", as_user="dave"))  # a second manager
    assert "it waits for 1 of finance" in detail
    detail = await refused_with(403, run.resume("approve", as_user="bob"))  # a second vote
    assert "already answered this request" in detail
    assert (await run.request())["request_id"] == waiting["request_id"]  # nothing was written

    values = await run.resume("approve", as_user="frank")
    assert values["status"] == "executed" and len(run.executions()) == 1
    votes = [(e["reviewer"], e["groups"]) for e in values["audit"]]
    assert votes == [("bob@signoff.local", ["managers"]), ("frank@signoff.local", ["finance"])]


async def test_a_rejection_by_finance_vetoes_what_a_manager_approved(flow):
    run: Flow = flow("approve_reject")
    await run.start(LARGE, assistant="approve_reject")
    await run.resume("approve", as_user="dave")
    values = await run.resume({"type": "reject", "message": "over budget"}, as_user="frank")
    assert values["status"] == "rejected" and values["reason"] == "over budget"
    assert run.executions() == []
