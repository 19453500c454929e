"""Requirements and quorum, in process: the shipped `approve_reject` rule on real graphs.

"Payments up to 1,000 need nobody. Up to 10,000, one manager. Above that, a manager *and*
someone from finance: two different people." Each vote is its own pause and its own signed
entry; the request shows its progress; execution counts the quorum again from the trail.
Properties: no quorum completes with fewer distinct authorised approvers than it needs, and
the matching never leaves unfilled a quota some assignment of the same votes fills.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import permutations
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signoff.execution.approved import approval_of
from signoff.governance.quorum import Vote, counted, tally
from signoff.protocol.shapes import Need, QuotaShape
from tests.policy_files import BASE, in_force, loaded
from tests.property_settings import EXAMPLES

LARGE = {"operation": {"amount": 50_000, "target": "acct-9"}}
MEDIUM = {"operation": {"amount": 5_000, "target": "acct-9"}}


def need(*quotas: tuple[list[str], int], rejections: int = 1) -> Need:
    return Need(
        requirement="test",
        when=None,
        outcome="approve",
        quotas=[QuotaShape(groups=groups, count=count) for groups, count in quotas],
        rejections=rejections,
        because=None,
    )


async def test_above_10000_a_manager_and_finance_approve_each_in_a_pause_of_their_own(flow):
    run = flow("approve_reject")
    await run.start(LARGE)
    request = await run.request()
    assert request["need"]["requirement"] == "a manager and finance above 10,000"
    assert request["progress"]["summary"] == ("0 of 2: waiting for 1 of managers and 1 of finance")

    values = await run.resume("approve", as_user="bob")
    assert values.get("status") is None and run.executions() == []
    request = await run.request()
    assert (
        request["progress"]["summary"]
        == "1 of 2: bob@signoff.local approved; waiting for 1 of finance"
    )
    assert request["error"] is None

    values = await run.resume("approve", as_user="frank")
    assert values["status"] == "executed" and len(run.executions()) == 1
    votes = [e for e in values["audit"] if e["decision"] == "approve"]
    assert [(e["reviewer"], e["groups"]) for e in votes] == [
        ("bob@signoff.local", ["managers"]),
        ("frank@signoff.local", ["finance"]),
    ]
    assert len({e["request_id"] for e in votes}) == 2  # a pause each
    assert {e["need"]["id"] for e in votes} == {request["need"]["id"]}  # one request


async def test_a_second_manager_is_refused_while_the_quorum_waits_for_finance(flow):
    run = flow("approve_reject")
    await run.start(LARGE)
    await run.resume("approve", as_user="bob")
    await run.resume("approve", as_user="dave")  # managers, security: no open quota
    request = await run.request()
    assert "dave@signoff.local may not approve" in request["error"]
    assert "it waits for 1 of finance" in request["error"]
    await run.resume("approve", as_user="bob")  # and nobody votes twice
    assert "already answered this request" in (await run.request())["error"]
    assert run.executions() == []
    await run.resume("approve", as_user="frank")
    assert len(run.executions()) == 1


async def test_one_rejection_vetoes_a_quorum(flow):
    run = flow("approve_reject")
    await run.start(LARGE)
    await run.resume("approve", as_user="bob")
    values = await run.resume({"type": "reject", "message": "no budget"}, as_user="frank")
    assert values["status"] == "rejected" and values["reason"] == "no budget"
    assert run.executions() == []


async def test_up_to_10000_one_manager_decides_alone(flow):
    run = flow("approve_reject")
    await run.start(MEDIUM)
    request = await run.request()
    assert request["need"]["quotas"] == [{"groups": ["managers"], "count": 1}]
    assert "progress" not in request
    values = await run.resume("approve", as_user="bob")
    assert values["status"] == "executed"


async def test_execution_counts_the_quorum_from_the_signed_trail(flow):
    run = flow("approve_reject")
    await run.start(LARGE)
    await run.resume("approve", as_user="bob")
    trail = (await run.values())["audit"]
    [vote] = trail
    assert approval_of(trail, "payment", vote["args_after"]) is None  # one vote of two


# The counting itself ------------------------------------------------------------------------

GROUP_NAMES = ["managers", "finance", "security"]
voters = st.lists(
    st.builds(
        Vote,
        reviewer=st.sampled_from(["bob", "dave", "frank", "carol", "erin"]),
        approves=st.booleans(),
        groups=st.frozensets(st.sampled_from(GROUP_NAMES), max_size=3),
        on_behalf_of=st.none() | st.sampled_from(["bob", "frank", "gina"]),
    ),
    max_size=6,
)
needs = st.lists(
    st.tuples(
        st.lists(st.sampled_from(GROUP_NAMES), min_size=1, max_size=2, unique=True),
        st.integers(1, 2),
    ),
    min_size=1,
    max_size=3,
).map(lambda quotas: need(*quotas))


@given(needs, voters)
@EXAMPLES
def test_no_quorum_completes_with_fewer_distinct_authorised_approvers_than_required(
    wanted: Need, votes: list[Vote]
) -> None:
    counts = tally(wanted, votes)
    if not counts.complete:
        return
    approving = [v for v in counted(votes) if v.approves and v.reviewer in counts.approved_by]
    people = [p for v in approving for p in v.people]
    assert len(set(people)) == len(people), "one person (or their stand-in) counted twice"
    assert len(counts.approved_by) == sum(q["count"] for q in wanted["quotas"])
    for quota in wanted["quotas"]:  # each quota has enough members among those counted
        members = [v for v in approving if v.groups & set(quota["groups"])]
        assert len(members) >= quota["count"]


@given(needs, voters)
@EXAMPLES
def test_the_order_of_votes_never_changes_whether_a_quorum_is_met(wanted, votes):
    distinct: list[Vote] = []
    for vote in votes:  # people who voted once each (a repeat is refused before it counts)
        if vote.approves and not any(vote.people & other.people for other in distinct):
            distinct.append(vote)
    orders = list(permutations(distinct))[:24]
    assert len({tally(wanted, list(order)).complete for order in orders}) <= 1


def test_a_vote_in_two_groups_fills_whichever_quota_leaves_room_for_the_next():
    wanted = need((["managers"], 1), (["finance"], 1))
    both = Vote("dave", True, frozenset({"managers", "finance"}))
    manager = Vote("bob", True, frozenset({"managers"}))
    assert tally(wanted, [both, manager]).complete  # dave moves to finance


def test_rejections_reject_only_at_the_count_the_requirement_names():
    wanted = need((["managers"], 2), rejections=2)
    one = tally(wanted, [Vote("bob", False, frozenset({"managers"}))])
    assert not one.rejected and not one.complete
    two = tally(wanted, [Vote("bob", False, frozenset()), Vote("dave", False, frozenset())])
    assert two.rejected


TWO_MANAGERS = (
    BASE
    + """
[[policy.rules.edit_state]]
name = "two managers"
approvals = { managers = 2 }
"""
)
BRIEF = {"brief": {"to": ["ops@example.com"], "topic": "the Friday outage", "details": "Fixed."}}


@pytest.fixture
def two_managers(tmp_path: Path) -> Iterator[None]:
    with in_force(loaded(tmp_path, TWO_MANAGERS)):
        yield


async def test_an_edit_resets_the_approvals_given_and_counts_as_its_editors(flow, two_managers):
    run = flow("edit_state")
    await run.start(BRIEF)
    draft = (await run.request())["action_requests"][0]["args"]
    await run.resume("approve", as_user="bob")
    assert (await run.request())["progress"]["approved_by"] == ["bob@signoff.local"]

    changed = {**draft, "body": "Fixed at 14:05 UTC."}
    edit = {"type": "edit", "edited_action": {"name": "send_message", "args": changed}}
    await run.resume({"decisions": [edit]}, as_user="dave")
    request = await run.request()
    assert request["action_requests"][0]["args"] == changed  # asked about the edit now
    assert request["progress"]["summary"] == (
        "1 of 2: dave@signoff.local approved; waiting for 1 of managers"
    )
    values = await run.resume("approve", as_user="bob")  # bob approved the old draft only
    assert values["status"] == "sent" and values["final"] == changed
    [sent] = run.executions()
    assert sent["details"] == changed
