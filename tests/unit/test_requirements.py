"""Requirements of a rule, in process: how `signoff.toml` writes them, which one applies to a
request, and what each kind does on a real graph (auto-approve, deny, approvals).

A condition is CEL, compiled and checked when the settings load; one that cannot be
evaluated on a request fails closed (every approval the rule could ask for, and the request
says why). The format before requirements (`[policy.deciders]`) keeps working.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signoff.conditions import PROBE, Facts
from signoff.governance.requirements import need_for
from signoff.settings import Settings, load_settings
from tests.in_process import RefundDesk, ScriptedModel, Thread, reviewed_refund_agent
from tests.policy_files import BASE, in_force, loaded
from tests.property_settings import EXAMPLES

RULES = (
    BASE
    + """
[[policy.rules.approve_reject]]
name = "small"
when = "args.amount <= 1000.0"
auto_approve = true

[[policy.rules.approve_reject]]
name = "sanctioned"
when = "args.target in ['acct-x', 'acct-y']"
deny = "payments to sanctioned accounts never run"

[[policy.rules.approve_reject]]
name = "weekend"
when = "now.getDayOfWeek() == 0 || now.getDayOfWeek() == 6"
approvals = 2
from = ["managers", "finance"]

[[policy.rules.approve_reject]]
name = "finance asks"
when = "'finance' in groups"
approvals = { managers = 1 }
rejections = 2

[[policy.rules.approve_reject]]
name = "large"
approvals = { managers = 1, finance = 1 }
"""
)


@pytest.fixture
def rules(tmp_path: Path) -> Iterator[None]:
    settings = loaded(tmp_path, RULES)
    with in_force(settings):
        yield


def facts(amount: object = 5000.0, target: str = "acct-1", **more: object) -> Facts:
    monday = datetime(2026, 11, 30, 12, tzinfo=UTC)
    return Facts(**{**PROBE, "args": {"amount": amount, "target": target}, "now": monday, **more})  # type: ignore[typeddict-item]


def test_the_first_requirement_that_holds_applies(rules):
    assert need_for("approve_reject", facts(500.0))["outcome"] == "auto_approve"
    denied = need_for("approve_reject", facts(target="acct-x"))
    assert denied["outcome"] == "deny" and denied["because"] == (
        "payments to sanctioned accounts never run"
    )
    saturday = datetime(2026, 12, 5, 12, tzinfo=UTC)
    weekend = need_for("approve_reject", facts(now=saturday))
    assert weekend["quotas"] == [{"groups": ["finance", "managers"], "count": 2}]
    asked = need_for("approve_reject", facts(groups=["finance"]))
    assert asked["requirement"] == "finance asks" and asked["rejections"] == 2
    assert need_for("approve_reject", facts())["requirement"] == "large"


def test_a_condition_that_cannot_be_evaluated_fails_closed_and_says_why(rules):
    for broken in (facts("lots"), Facts(**{**PROBE, "args": {}})):
        failed = need_for("approve_reject", broken)
        assert failed["requirement"] == "strictest" and failed["outcome"] == "approve"
        assert failed["quotas"] == [
            {"groups": ["finance", "managers"], "count": 2},
            {"groups": ["managers"], "count": 1},
            {"groups": ["finance"], "count": 1},
        ]
        assert "requirement 'small' of rule 'approve_reject'" in (failed["because"] or "")
        assert "failed closed" in (failed["because"] or "")


@given(
    st.one_of(st.none(), st.booleans(), st.text(max_size=5), st.lists(st.integers(), max_size=2))
)
@EXAMPLES
def test_no_malformed_argument_ever_auto_approves_or_denies(amount):
    settings = loaded_once()
    with in_force(settings):
        need = need_for("approve_reject", facts(amount))
    assert need["outcome"] == "approve" and need["requirement"] == "strictest"


@cache
def loaded_once() -> Settings:
    """`RULES`, loaded once for the property's examples."""
    return loaded(Path(tempfile.mkdtemp()), RULES)


@pytest.mark.parametrize(
    ("requirement", "message"),
    [
        ('when = "args.amount <="\nauto_approve = true', "is not CEL"),
        ('when = "amount <= 5"\nauto_approve = true', "unknown variables ['amount']"),
        ("when = \"system('rm')\"\nauto_approve = true", "not CEL standard functions"),
        ('when = "requester > 3"\nauto_approve = true', "could not be evaluated"),
        ('when = "args.amount"\napprovals = { managers = 0 }', "at least 1"),
        ('auto_approve = true\ndeny = "no"', "exactly one of"),
        ("approvals = 2", "approvals = 2` with `from"),
        ('approvals = { managers = 1 }\nescalate = "x"', "unknown keys ['escalate']"),
    ],
)
def test_a_bad_requirement_is_refused_when_the_settings_load(tmp_path, requirement, message):
    text = BASE + f'\n[[policy.rules.x]]\nname = "bad"\n{requirement}\n'
    with pytest.raises(ValueError, match="policy.rules.x") as refused:
        loaded(tmp_path, text)
    assert message in str(refused.value)


def test_a_requirement_after_one_that_matches_everything_is_unreachable(tmp_path):
    text = (
        BASE
        + """
[[policy.rules.x]]
name = "all"
approvals = { managers = 1 }

[[policy.rules.x]]
name = "never"
when = "args.amount > 5.0"
auto_approve = true
"""
    )
    with pytest.raises(ValueError, match=r"'all' has no `when`.*\['never'\].*can never apply"):
        loaded(tmp_path, text)


def test_a_rule_in_both_formats_gets_a_migration_message(tmp_path):
    text = BASE.replace('default = ["signoff-admins"]', 'default = ["signoff-admins"]\nx = ["a"]')
    text += '\n[[policy.rules.x]]\nname = "one"\napprovals = { a = 1 }\n'
    with pytest.raises(ValueError, match=r"`approvals = \{<group> = 1\}`"):
        loaded(tmp_path, text)


def test_the_format_before_requirements_is_one_approval_by_its_groups(tmp_path):
    settings = loaded(tmp_path, BASE.replace("default =", 'refunds = ["leads"]\ndefault ='))
    [requirement] = settings.rules["refunds"]
    assert requirement.name == "deciders" and requirement.outcome == "approve"
    assert [(q.groups, q.count) for q in requirement.quotas] == [(("leads",), 1)]


def test_the_shipped_policy_says_the_three_sentences():
    shipped = load_settings.__wrapped__(str(Path(__file__).parents[2] / "signoff.toml"))
    with in_force(shipped):
        context = {"auto_approve_limit": 1000.0, "review_targets": ["acct-vip"]}
        small = need_for("approve_reject", facts(1000.0, context=context))
        assert small["outcome"] == "auto_approve"
        vip = need_for("approve_reject", facts(5.0, "acct-vip", context=context))
        assert vip["quotas"] == [{"groups": ["managers"], "count": 1}]
        medium = need_for("approve_reject", facts(10_000.0, context=context))
        assert medium["quotas"] == [{"groups": ["managers"], "count": 1}]
        large = need_for("approve_reject", facts(10_000.01, context=context))
        assert large["quotas"] == [
            {"groups": ["managers"], "count": 1},
            {"groups": ["finance"], "count": 1},
        ]


REFUND_RULES = (
    BASE
    + """
[[policy.rules.issue_refund]]
name = "refunds over 20 never run"
when = "args.amount > 20.0"
deny = "refunds over 20 go through the finance desk"

[[policy.rules.issue_refund]]
name = "small refunds"
auto_approve = true
"""
)


@pytest.mark.parametrize(("amount", "ran"), [(25.0, False), (15.0, True)])
def test_a_tool_call_is_denied_or_auto_approved_without_a_pause(tmp_path, amount, ran):
    settings = loaded(tmp_path, REFUND_RULES)
    desk = RefundDesk()
    thread = Thread(reviewed_refund_agent(desk, ScriptedModel(amount=amount)))
    with in_force(settings):
        values = thread.start({"messages": [("user", "refund order 17")]})
    assert thread.pending() == []  # nobody was asked
    [entry] = values["audit"]
    assert entry["reviewer"] == "system"
    if ran:
        assert entry["decision"] == "approve" and len(desk.executed) == 1
        assert "requirement 'small refunds' of rule 'issue_refund'" in entry["comment"]
    else:
        assert entry["decision"] == "reject" and desk.executed == []
        [result] = [m for m in values["messages"] if m.type == "tool"]
        assert result.status == "error"
        assert "refunds over 20 go through the finance desk" in result.content
