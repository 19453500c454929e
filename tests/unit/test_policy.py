"""Who may decide, in process (`signoff.governance.policy`), under a settings file of the
test's own.

A request is decided by members of its `decided_by` groups (and of `escalate_to` once
`escalates_at` has passed), never by its requester (four-eyes) nor by anyone who decided an
earlier stage of its chain; the requester or an admin may withdraw it; anyone may expire it
once `expires_at` has passed, and nobody before. Every refusal names who would be allowed.
Properties: for any identity and request, an answer is accepted exactly when these rules say.
The example count is `SIGNOFF_PROPERTY_EXAMPLES` (`tests/property_settings.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signoff import clock
from signoff.conditions import PROBE
from signoff.governance import deadlines, policy, requirements
from signoff.governance.deadlines import DeadlineOverrides
from signoff.governance.identity import Identity
from signoff.governance.policy import (
    HOW_TO_SIGN_IN,
    admin_groups,
    admin_refusal,
    deciders_for,
    deciding_groups,
    decision_refusal,
    expiry_refusal,
    is_admin,
    request_policy,
    resume_refusal,
    timing_of,
)
from signoff.settings import DeadlinePolicy, Settings, load_settings
from tests.property_settings import EXAMPLES

SETTINGS = """
[databricks]
job_id = 7
genie_space_id = "space"
model_endpoint = "endpoint"

[policy]
admins = ["signoff-admins", "auditors"]

[policy.deciders]
approve_reject = ["managers", "finance"]
"multi_stage_approval.manager" = ["managers"]
"multi_stage_approval.security" = ["security"]
"main.support.issue_refund" = ["support-leads"]
"both__named__fn" = ["underscored"]
"both.named.fn" = ["dotted"]
default = ["signoff-admins"]

[deadlines.default]
remind_after = "4h"
escalate_after = "1d"
escalate_to = "signoff-admins"
expire_after = "3d"

[deadlines.approve_reject]
escalate_after = "2h"
escalate_to = "security"

[deadlines."main.support.issue_refund"]
expire_after = "90s"
"""
"""The policy under test: two admin groups, a rule with two groups, Unity Catalog names."""

ADMINS = ["auditors", "signoff-admins"]
GROUPS = ["managers", "finance", "security", "support-leads", "signoff-admins", "auditors"]
USERS = [f"{name}@signoff.local" for name in ("alice", "bob", "carol", "dave", "erin")]
ALICE, BOB, CAROL, DAVE, ERIN = USERS


@pytest.fixture(scope="module", autouse=True)
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """`SETTINGS` as the settings every policy and deadline function reads."""
    path = tmp_path_factory.mktemp("policy") / "signoff.toml"
    path.write_text(SETTINGS, encoding="utf-8")
    loaded = load_settings.__wrapped__(str(path))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(policy, "load_settings", lambda: loaded)
        patch.setattr(deadlines, "load_settings", lambda: loaded)
        patch.setattr(requirements, "load_settings", lambda: loaded)
        yield loaded


def person(user: str, *groups: str) -> Identity:
    """`user`, a member of `groups`."""
    return Identity(user=user, groups=frozenset(groups))


def at(hours: float) -> str:
    """A timestamp `hours` from now (before now when negative)."""
    return clock.stamp(clock.now() + timedelta(hours=hours))


def request(**fields: Any) -> dict[str, Any]:
    """A pending request raised by alice, decided by managers, with `fields` over that."""
    return {
        "request_id": "req-1",
        "stage": "review",
        "requested_by": ALICE,
        "decided_by": ["managers"],
        **fields,
    }


def legacy_need(groups: list[str]) -> dict[str, Any]:
    """What a `[policy.deciders]` rule needs: one approval by a member of `groups`."""
    return {
        "requirement": "deciders",
        "when": None,
        "outcome": "approve",
        "quotas": [{"groups": groups, "count": 1}],
        "rejections": 1,
        "because": None,
    }


def expire(request_id: Any) -> dict[str, Any]:
    """The sweeper's answer expiring `request_id`."""
    return {"type": "expire", "request_id": request_id}


# deciders_for and request_policy ----------------------------------------------------------


def test_a_rule_is_decided_by_its_groups_sorted():
    assert deciders_for("approve_reject") == ["finance", "managers"]
    assert deciders_for("multi_stage_approval.security") == ["security"]


def test_a_rule_no_table_names_is_decided_by_the_default_groups():
    assert deciders_for("some_new_tool") == ["signoff-admins"]
    assert deciders_for("multi_stage_approval.oncall") == ["signoff-admins"]
    assert deciders_for("") == ["signoff-admins"]


def test_a_unity_catalog_tool_is_found_by_either_of_its_names():
    assert deciders_for("main.support.issue_refund") == ["support-leads"]
    assert deciders_for("main__support__issue_refund") == ["support-leads"]
    assert deciders_for("main__support__lookup_order") == ["signoff-admins"]


def test_a_rule_named_as_given_wins_over_its_dotted_name():
    assert deciders_for("both__named__fn") == ["underscored"]
    assert deciders_for("both.named.fn") == ["dotted"]


def test_without_a_default_rule_the_admins_decide_what_no_rule_covers(monkeypatch, tmp_path):
    path = tmp_path / "signoff.toml"
    path.write_text(SETTINGS.replace('default = ["signoff-admins"]\n', ""), encoding="utf-8")
    loaded = load_settings.__wrapped__(str(path))
    assert "default" in loaded.deciders
    monkeypatch.setattr(requirements, "load_settings", lambda: loaded)
    assert deciders_for("some_new_tool") == ADMINS
    assert deciders_for("approve_reject") == ["finance", "managers"]


def test_a_request_policy_is_its_rule_deciders_and_deadlines():
    assert request_policy("approve_reject", PROBE) == {
        "rule": "approve_reject",
        "decided_by": ["finance", "managers"],
        "remind_after": None,
        "escalate_after": 2 * 3600,
        "escalate_to": "security",
        "expire_after": None,
        "need": legacy_need(["finance", "managers"]),
    }
    assert request_policy("main__support__issue_refund", PROBE) == {
        "rule": "main__support__issue_refund",
        "decided_by": ["support-leads"],
        "remind_after": None,
        "escalate_after": None,
        "escalate_to": None,
        "expire_after": 90,
        "need": legacy_need(["support-leads"]),
    }


def test_the_default_rule_policy_has_the_default_deadlines():
    fixed = request_policy("deploy", PROBE)
    assert fixed["decided_by"] == ["signoff-admins"]
    assert timing_of(fixed) == DeadlinePolicy(
        remind_after=4 * 3600,
        escalate_after=24 * 3600,
        escalate_to="signoff-admins",
        expire_after=3 * 24 * 3600,
    )


def test_the_assistant_context_overrides_the_deadlines_but_never_the_deciders():
    context = DeadlineOverrides(
        expire_after_seconds=60, escalate_after_seconds=30, escalate_to="finance"
    )
    fixed = request_policy("approve_reject", PROBE, context)
    assert fixed["decided_by"] == ["finance", "managers"]
    assert (fixed["expire_after"], fixed["escalate_after"], fixed["escalate_to"]) == (
        60,
        30,
        "finance",
    )


def test_the_deadlines_of_a_policy_read_back_as_the_deadline_policy():
    fixed = request_policy("approve_reject", PROBE)
    assert timing_of(fixed) == deadlines.policy_for("approve_reject")


# admins --------------------------------------------------------------------------------------


def test_a_member_of_any_admin_group_is_an_admin():
    assert admin_groups() == ADMINS
    assert is_admin(person(ERIN, "users", "auditors"))
    assert is_admin(person(ERIN, "signoff-admins"))
    assert not is_admin(person(BOB, "managers", "security"))
    assert not is_admin(person(BOB))
    assert not is_admin(None)


def test_only_admins_may_do_admin_things_and_the_refusal_names_the_admin_groups():
    assert admin_refusal(person(ERIN, "auditors"), "edit thread state") is None
    assert admin_refusal(person(BOB, "managers"), "edit thread state") == (
        f"{BOB} may not edit thread state: only members of auditors, signoff-admins may."
    )
    assert admin_refusal(None, "delete threads") == (
        "An unidentified caller may not delete threads: only members of auditors, "
        "signoff-admins may."
    )


# deciding_groups ----------------------------------------------------------------------------


def test_the_escalation_group_decides_only_from_the_escalation_time():
    pending = request(escalate_to="security", escalates_at=at(1))
    moment = clock.parse(pending["escalates_at"])
    assert moment is not None
    assert deciding_groups(pending) == ["managers"]
    assert deciding_groups(pending, moment - timedelta(milliseconds=1)) == ["managers"]
    assert deciding_groups(pending, moment) == ["managers", "security"]
    assert deciding_groups(pending, moment + timedelta(days=9)) == ["managers", "security"]


def test_an_escalation_to_a_deciding_group_adds_nothing():
    pending = request(decided_by=["managers", "security"], escalate_to="security")
    assert deciding_groups({**pending, "escalates_at": at(-1)}) == ["managers", "security"]


@pytest.mark.parametrize(
    "escalation",
    [{}, {"escalate_to": "security"}, {"escalates_at": at(-1)}, {"escalate_to": None}],
    ids=["none", "no time", "no group", "null group"],
)
def test_without_both_a_group_and_a_time_passed_nothing_escalates(escalation):
    assert deciding_groups(request(**escalation)) == ["managers"]


@pytest.mark.parametrize("when", ["tomorrow", "2020-01-01T00:00:00", 17, None])
def test_an_escalation_time_that_is_not_a_timestamp_never_comes(when):
    pending = request(escalate_to="security", escalates_at=when)
    assert deciding_groups(pending) == ["managers"]


def test_a_request_without_deciders_is_decided_by_nobody_until_it_escalates():
    assert deciding_groups({"decided_by": None}) == []
    assert deciding_groups({}) == []
    assert deciding_groups({"escalate_to": "security", "escalates_at": at(-1)}) == ["security"]


# decision_refusal ---------------------------------------------------------------------------


def test_a_member_of_a_deciding_group_other_than_the_requester_may_decide():
    assert decision_refusal(person(BOB, "managers"), request()) is None
    assert (
        decision_refusal(person(BOB, "users", "finance"), request(decided_by=["finance"])) is None
    )


def test_deciding_needs_an_identity_and_the_refusal_says_how_to_sign_in_and_who_may():
    refusal = decision_refusal(None, request(decided_by=["managers", "finance"]))
    assert refusal is not None
    assert HOW_TO_SIGN_IN in refusal and "never decide" in refusal
    assert "a member of managers, finance, other than alice@signoff.local" in refusal


def test_withdrawing_also_needs_an_identity():
    assert decision_refusal(None, request(), withdrawing=True) is not None


def test_someone_outside_the_deciding_groups_is_refused_with_their_groups_and_who_may():
    refusal = decision_refusal(person(CAROL, "security", "users"), request(stage="manager"))
    assert refusal == (
        f"{CAROL} may not decide stage 'manager': it needs a member of managers (their groups: "
        f"security, users), other than {ALICE}."
    )


def test_someone_in_no_group_at_all_is_refused():
    refusal = decision_refusal(person(DAVE), request())
    assert refusal is not None and "(their groups: no groups)" in refusal
    assert "stage 'review'" in refusal


def test_a_request_without_a_stage_is_refused_as_the_review_stage():
    pending = request()
    del pending["stage"]
    assert "stage 'review'" in (decision_refusal(person(DAVE), pending) or "")


def test_an_admin_outside_the_deciding_groups_may_not_decide():
    refusal = decision_refusal(person(ERIN, "signoff-admins", "auditors"), request())
    assert refusal is not None and refusal.startswith(f"{ERIN} may not decide")


def test_the_requester_may_not_decide_their_own_request_even_in_the_deciding_group():
    refusal = decision_refusal(person(ALICE, "managers"), request())
    assert refusal == (
        f"{ALICE} raised this request, so cannot decide it (four-eyes): a member of managers "
        "other than them must. The requester may withdraw it instead."
    )


def test_nobody_decides_two_stages_of_one_chain():
    earlier = [
        {"stage": "manager", "reviewer": BOB, "decision": "approve"},
        {"stage": "qa", "reviewer": DAVE, "decision": "approve"},
    ]
    pending = request(stage="security", decided_by=["security"], earlier_decisions=earlier)
    refusal = decision_refusal(person(BOB, "managers", "security"), pending)
    assert refusal == (
        f"{BOB} already decided stage 'manager' of this chain, so cannot decide stage "
        "'security' too (four-eyes): a member of security who decided no other stage must."
    )
    assert "stage 'qa'" in (decision_refusal(person(DAVE, "security"), pending) or "")
    assert decision_refusal(person(CAROL, "security"), pending) is None


def test_a_refusal_before_escalation_says_from_when_the_escalation_group_may_decide():
    when = at(1)
    pending = request(escalate_to="security", escalates_at=when)
    refusal = decision_refusal(person(CAROL, "security"), pending)
    assert refusal is not None
    assert f"a member of managers (from {when}, also of security)" in refusal


def test_after_escalation_the_escalation_group_may_decide_but_not_the_requester():
    pending = request(escalate_to="security", escalates_at=at(-1))
    assert decision_refusal(person(CAROL, "security"), pending) is None
    refusal = decision_refusal(person(ALICE, "security"), pending)
    assert refusal is not None and "four-eyes" in refusal
    assert "a member of managers, security other than them" in refusal
    assert "also of" not in refusal  # it has escalated: nothing is still ahead


def test_the_requester_or_an_admin_may_withdraw_a_request():
    pending = request()
    assert decision_refusal(person(ALICE), pending, withdrawing=True) is None
    assert decision_refusal(person(ERIN, "auditors"), pending, withdrawing=True) is None
    assert decision_refusal(person(ERIN, "signoff-admins"), pending, withdrawing=True) is None


def test_a_decider_other_than_the_requester_may_not_withdraw_and_is_told_who_may():
    refusal = decision_refusal(person(BOB, "managers"), request(), withdrawing=True)
    assert refusal == (
        f"{BOB} may not withdraw this request: only {ALICE}, who raised it, or a member of "
        "auditors, signoff-admins may. It may be decided by a member of managers."
    )


# resume_refusal and expiry_refusal -------------------------------------------------------------


def test_a_map_of_interrupt_ids_is_checked_only_for_the_requests_it_answers():
    pending = {"i1": request(), "i2": request(request_id="req-2", decided_by=["security"])}
    bob = person(BOB, "managers")
    assert resume_refusal(bob, pending, {"i1": "approve"}) is None
    refusal = resume_refusal(bob, pending, {"i1": "approve", "i2": "approve"})
    assert refusal is not None and "it needs a member of security" in refusal


@pytest.mark.parametrize(
    "answer",
    ["approve", {"decisions": [{"type": "approve"}]}, {}, {"i1": "yes", "other": "yes"}, None],
    ids=["text", "decisions", "empty map", "map with an unknown id", "nothing"],
)
def test_any_other_answer_answers_every_pending_request(answer):
    pending = {"i1": request(), "i2": request(request_id="req-2", decided_by=["security"])}
    assert resume_refusal(person(BOB, "managers"), pending, answer) is not None
    assert resume_refusal(person(BOB, "managers", "security"), pending, answer) is None


def test_the_first_refused_request_is_the_one_reported():
    pending = {"i1": request(stage="manager"), "i2": request(stage="security")}
    refusal = resume_refusal(person(BOB), pending, "approve")
    assert refusal is not None and "stage 'manager'" in refusal


@pytest.mark.parametrize(
    "answer", ["withdraw", "Withdraw.", {"type": "withdraw", "message": "wrong account"}]
)
def test_a_withdrawal_is_checked_as_a_withdrawal(answer):
    pending = {"i1": request()}
    assert resume_refusal(person(ALICE), pending, answer) is None
    assert resume_refusal(person(ALICE), pending, "approve") is not None
    refusal = resume_refusal(person(BOB, "managers"), pending, answer)
    assert refusal is not None and "may not withdraw" in refusal


def test_nobody_is_refused_with_nothing_pending():
    assert resume_refusal(None, {}, "approve") is None


def test_anyone_may_expire_a_request_once_it_is_due():
    pending = {"i1": request(expires_at=at(-1))}
    assert resume_refusal(None, pending, expire("req-1")) is None
    assert resume_refusal(person(DAVE), pending, {"i1": expire("req-1")}) is None
    assert expiry_refusal(pending["i1"], "req-1") is None


def test_an_expiry_is_bound_to_the_request_that_expired():
    pending = request(expires_at=at(-1))
    assert expiry_refusal(pending, "req-0") == (
        "An expiry of request 'req-0' cannot end request 'req-1': an expiry is bound to the "
        "request that expired."
    )
    refusal = resume_refusal(None, {"i1": pending}, expire(None))
    assert refusal is not None and "An expiry of request ''" in refusal


def test_an_expiry_before_its_time_is_refused_with_when_and_who_decides_until_then():
    when = at(1)
    refusal = expiry_refusal(request(decided_by=["managers", "finance"], expires_at=when), "req-1")
    assert refusal == (
        f"Request req-1 cannot be expired before {when}: it does not expire before then, and "
        "until then it is decided by a member of managers, finance."
    )
    assert resume_refusal(None, {"i1": request(expires_at=when)}, expire("req-1")) is not None


def test_a_request_whose_policy_sets_no_expiry_never_expires():
    assert expiry_refusal(request(), "req-1") == (
        "Request req-1 cannot be expired at all: its policy sets no expiry, so it never "
        "expires; it is decided by a member of managers."
    )


def test_each_answer_of_a_map_is_checked_by_its_own_kind():
    pending = {"i1": request(expires_at=at(-1)), "i2": request(request_id="req-2")}
    both = {"i1": expire("req-1"), "i2": "approve"}
    assert resume_refusal(person(BOB, "managers"), pending, both) is None
    assert resume_refusal(person(DAVE), pending, both) is not None  # may expire, not decide
    early = {"i1": request(expires_at=at(1)), "i2": request(request_id="req-2")}
    refusal = resume_refusal(person(BOB, "managers"), early, both)
    assert refusal is not None and refusal.startswith("Request req-1 cannot be expired before")


# Properties -------------------------------------------------------------------------------


@st.composite
def identities(draw: st.DrawFn, near: dict[str, Any] | None = None) -> Identity | None:
    """Nobody, or any user in any groups; often (given a request `near`) one of its
    deciding groups, its requester or a decider of one of its earlier stages."""
    if draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()):
        return None
    groups = set(draw(st.frozensets(st.sampled_from([*GROUPS, "users"]), max_size=3)))
    users = list(USERS)
    if near is not None:
        if draw(st.booleans()):
            groups.add(draw(st.sampled_from(sorted(allowed_groups(near)))))
        users += [near["requested_by"], *(e["reviewer"] for e in near["earlier_decisions"])]
    return Identity(user=draw(st.sampled_from(users)), groups=frozenset(groups))


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    """Any pending request: its deciders, requester, earlier stages and escalation."""
    pending = request(
        request_id=draw(st.sampled_from(["req-1", "req-2"])),
        stage=draw(st.sampled_from(["review", "manager", "security"])),
        requested_by=draw(st.sampled_from(USERS)),
        decided_by=draw(st.lists(st.sampled_from(GROUPS), min_size=1, max_size=3, unique=True)),
    )
    reviewers = draw(st.lists(st.sampled_from(USERS), max_size=2, unique=True))
    pending["earlier_decisions"] = [
        {"stage": f"stage-{n}", "reviewer": reviewer, "decision": "approve"}
        for n, reviewer in enumerate(reviewers)
    ]
    if draw(st.booleans()):
        pending["escalate_to"] = draw(st.sampled_from(GROUPS))
        pending["escalates_at"] = at(draw(st.sampled_from([-48, -1, 1, 48])))
    if draw(st.booleans()):
        pending["expires_at"] = at(draw(st.sampled_from([-1, 1])))
    return pending


def allowed_groups(pending: dict[str, Any]) -> set[str]:
    """The groups the rules let decide `pending` now, worked out independently."""
    groups = set(pending["decided_by"])
    if "escalate_to" in pending and pending["escalates_at"] < clock.stamp():
        groups.add(pending["escalate_to"])
    return groups


def may_decide(identity: Identity | None, pending: dict[str, Any]) -> bool:
    """The policy's rules for deciding, worked out independently."""
    if identity is None:
        return False
    earlier = {e["reviewer"] for e in pending.get("earlier_decisions", [])}
    return (
        bool(identity.groups & allowed_groups(pending))
        and identity.user != pending["requested_by"]
        and identity.user not in earlier
    )


def may_withdraw(identity: Identity | None, pending: dict[str, Any]) -> bool:
    """The policy's rules for withdrawing, worked out independently."""
    if identity is None:
        return False
    return identity.user == pending["requested_by"] or bool(identity.groups & set(ADMINS))


@EXAMPLES
@given(st.data(), requests(), st.booleans())
def test_an_answer_is_accepted_exactly_when_the_rules_allow_and_a_refusal_says_who_may(
    data, pending, withdrawing
):
    identity = data.draw(identities(pending))
    refusal = decision_refusal(identity, pending, withdrawing=withdrawing)
    allowed = may_withdraw if withdrawing else may_decide
    assert (refusal is None) == allowed(identity, pending)
    assert set(deciding_groups(pending)) == allowed_groups(pending)
    if refusal is not None:  # it names who would be allowed
        assert f"a member of {', '.join(deciding_groups(pending))}" in refusal
        if identity is not None:
            assert identity.user in refusal
        if withdrawing and identity is not None:
            requester = pending["requested_by"]
            assert f"only {requester}, who raised it, or a member of {', '.join(ADMINS)}" in refusal


@EXAMPLES
@given(st.dictionaries(st.sampled_from(["i1", "i2", "i3"]), requests(), min_size=1), st.data())
def test_a_resume_is_accepted_exactly_when_every_request_it_answers_accepts_it(pending, data):
    identity = data.draw(identities(data.draw(st.sampled_from(list(pending.values())))))
    answer = data.draw(st.sampled_from(["approve", "withdraw", "expire"]))
    targets = data.draw(st.none() | st.sets(st.sampled_from(sorted(pending)), min_size=1))

    def one(pending_request: dict[str, Any]) -> Any:
        return expire(pending_request["request_id"]) if answer == "expire" else answer

    if targets is None:  # one answer for every pending request
        first = next(iter(pending.values()))
        resume: Any = one(first)
        answered = dict(pending)
    else:
        resume = {interrupt_id: one(pending[interrupt_id]) for interrupt_id in targets}
        answered = {interrupt_id: pending[interrupt_id] for interrupt_id in targets}

    def accepts(interrupt_id: str, pending_request: dict[str, Any]) -> bool:
        if answer == "withdraw":
            return may_withdraw(identity, pending_request)
        if answer == "approve":
            return may_decide(identity, pending_request)
        sent = resume[interrupt_id]["request_id"] if targets else resume["request_id"]
        due = pending_request.get("expires_at", "9999") < clock.stamp()
        return sent == pending_request["request_id"] and due

    expected = all(accepts(i, r) for i, r in answered.items())
    assert (resume_refusal(identity, pending, resume) is None) == expected
