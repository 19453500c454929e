"""`signoff policy replay`'s judgement, on hand-built audit trails (no server): which recorded
requests a proposed policy would have auto-approved, asked more approvers of, or denied, and
who could no longer have decided them. Replaying the policy in force changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from signoff.client.policy_check import load_proposed
from signoff.client.policy_replay import (
    as_need,
    compare,
    context_of,
    recorded_requests,
    replay,
)
from signoff.conditions import Facts
from signoff.governance.requirements import deciders_of, need_for
from signoff.protocol.shapes import Need
from signoff.settings import DEFAULT_FILE, Settings
from tests.property_settings import EXAMPLES

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
"""When the replays run; the trails are from the days before."""

ALICE, BOB, FRANK = "alice@signoff.local", "bob@signoff.local", "frank@signoff.local"

PROPOSED = """
[databricks]
job_id = 101
genie_space_id = "space"
model_endpoint = "endpoint"
uc_functions = ["main.support.issue_refund"]

[policy]
admins = ["signoff-admins"]

[policy.deciders]
"multi_stage_approval.manager" = ["managers"]

[[policy.rules.approve_reject]]
name = "trusted target"
when = "args.target == 'acct-trusted'"
auto_approve = true

[[policy.rules.approve_reject]]
name = "sanctioned"
when = "args.target.startsWith('sanctioned-')"
deny = "payments to sanctioned accounts never run"

[[policy.rules.approve_reject]]
name = "large"
when = "args.amount > 3000.0"
approvals = 2
from = ["finance"]

[[policy.rules.approve_reject]]
name = "one manager"
approvals = { managers = 1 }

[[policy.rules."main.support.issue_refund"]]
name = "refunds by finance"
approvals = { finance = 1 }
"""


def need(outcome: str = "approve", requirement: str = "deciders", **quotas: int) -> dict[str, Any]:
    """A recorded need: `need(managers=1)`."""
    return {
        "requirement": requirement,
        "when": None,
        "outcome": outcome,
        "quotas": [{"groups": [group], "count": n} for group, n in quotas.items()],
        "rejections": 1,
        "because": None,
    }


MANAGER = need(managers=1)


def entry(
    request_id: str,
    args: dict[str, Any],
    *,
    reviewer: str = BOB,
    decision: str = "approve",
    recorded: dict[str, Any] | None = MANAGER,
    groups: list[str] | None = None,
    stage: str = "review",
    action: str = "payment",
    days_ago: float = 1.0,
    **more: Any,
) -> dict[str, Any]:
    """One audit entry as `decision_entries` writes it (unsigned: replay reads, never
    verifies)."""
    at = (AT - timedelta(days=days_ago)).isoformat()
    made: dict[str, Any] = {
        "stage": stage,
        "action": action,
        "decision": decision,
        "reviewer": reviewer,
        "at": at,
        "comment": None,
        "args_before": args,
        "args_after": args,
        "prev": "",
        "signature": f"sig-{request_id}-{reviewer}-{decision}",
        "request_id": request_id,
        "raised_at": at,
        **more,
    }
    if recorded is not None:
        made["need"] = recorded
    if groups is not None:
        made["groups"] = groups
    return made


def payment(amount: float, target: str = "acct-9") -> dict[str, Any]:
    return {"kind": "payment", "amount": amount, "target": target, "currency": "USD"}


def thread(
    *entries: dict[str, Any], graph: str = "approve_reject", **values: Any
) -> dict[str, Any]:
    """A server thread record as `threads.search` returns it."""
    return {
        "thread_id": f"thread-{entries[0]['request_id']}",
        "metadata": {"graph_id": graph, "assistant_id": graph},
        "values": {"requested_by": ALICE, "audit": list(entries), **values},
        "updated_at": entries[-1]["at"],
    }


def proposed(tmp_path: Path, text: str = PROPOSED) -> Settings:
    path = tmp_path / "proposed.toml"
    path.write_text(text, encoding="utf-8")
    return load_proposed(path)


def replayed(settings: Settings, *threads: dict[str, Any], **options: Any) -> dict[str, Any]:
    options = {"days": 30, "examples": 3, "at": AT, **options}
    return replay(settings, threads, **options).as_dict()


def test_a_request_a_person_decided_that_would_have_run_without_one(tmp_path):
    report = replayed(proposed(tmp_path), thread(entry("r1", payment(2500, "acct-trusted"))))
    assert report["counts"]["auto_approved"] == 1 and report["requests"] == 1
    [example] = report["rules"]["approve_reject"]["examples"]["auto_approved"]
    assert (example["thread_id"], example["request_id"]) == ("thread-r1", "r1")
    assert example["then"]["outcome"] == "approve"
    assert example["proposed"]["requirement"] == "trusted target"
    assert example["decisions"] == [f"approve by {BOB}"]


def test_more_approvers_and_the_people_who_could_no_longer_decide(tmp_path):
    report = replayed(
        proposed(tmp_path),
        thread(entry("big", payment(5000), groups=["managers"])),
        thread(entry("small", payment(2000), groups=["managers"])),
    )
    rule = report["rules"]["approve_reject"]
    assert rule["requests"] == 2
    assert rule["counts"] == {"more_approvers": 1, "lost_deciders": 1}
    [more] = rule["examples"]["more_approvers"]
    assert more["request_id"] == "big" and more["proposed"]["quotas"] == [
        {"groups": ["finance"], "count": 2}
    ]
    [lost] = rule["examples"]["lost_deciders"]
    assert (lost["reviewer"], lost["reviewer_groups"]) == (BOB, ["managers"])
    assert report["people"] == [{"reviewer": BOB, "requests": 1, "rules": {"approve_reject": 1}}]


def test_a_quota_of_other_groups_counts_as_more_approvers(tmp_path):
    refund = {"order_id": "o-1", "amount": 20.0}
    trail = entry(
        "refund",
        refund,
        stage="tool_review",
        action="main__support__issue_refund",
        recorded=need(**{"support-leads": 1}),
        groups=["support-leads"],
        call_id="call-1",
    )
    report = replayed(proposed(tmp_path), thread(trail, graph="review_tool_calls"))
    rule = report["rules"]["main__support__issue_refund"]
    assert rule["counts"] == {"more_approvers": 1, "lost_deciders": 1}


def test_requests_that_would_have_been_denied_and_no_longer_denied(tmp_path):
    settings = proposed(tmp_path)
    denied = entry("deny", payment(50, "sanctioned-7"), reviewer="system", decision="approve")
    denied["need"] = need("auto_approve", "small payments")
    was_denied = entry(
        "was-denied", payment(80), reviewer="system", decision="reject", recorded=None
    )
    was_denied["need"] = need("deny", "frozen accounts")
    report = replayed(settings, thread(denied), thread(was_denied))
    assert report["counts"]["denied"] == 1 and report["counts"]["no_longer_denied"] == 1
    [example] = report["rules"]["approve_reject"]["examples"]["denied"]
    assert example["proposed"]["because"] == "payments to sanctioned accounts never run"


def test_the_graphs_own_auto_approvals_needed_nobody_then(tmp_path):
    auto = entry(
        "auto",
        payment(500),
        stage="policy",
        reviewer="system",
        decision="auto_approve",
        recorded=None,
        comment="amount 500 is within auto_approve_limit 1000.0",
    )
    report = replayed(proposed(tmp_path), thread(auto))
    assert report["rules"]["approve_reject"]["counts"] == {"more_approvers": 1}
    [example] = report["rules"]["approve_reject"]["examples"]["more_approvers"]
    assert example["then"]["outcome"] == "auto_approve"


def test_a_trail_from_before_needs_were_recorded_uses_its_policys_deciders(tmp_path):
    old = entry("old", payment(2000), recorded=None)
    policy = {"rule": "approve_reject", "decided_by": ["security"]}
    report = replayed(proposed(tmp_path), thread(old, policy=policy))
    rule = report["rules"]["approve_reject"]
    # then: one of security; now: one of managers. Bob's groups are not recorded, so he is
    # taken as deciding as security: he could no longer have decided.
    assert rule["counts"] == {"more_approvers": 1, "lost_deciders": 1}


def test_a_quorum_request_is_one_request_however_many_voted(tmp_path):
    two = {**need(managers=1, finance=1), "id": "q"}  # each vote is a pause of its own
    votes = [
        entry("q-1", payment(20000), recorded=two, groups=["managers"]),
        entry("q-2", payment(20000), reviewer=FRANK, recorded=two, groups=["finance"]),
    ]
    report = replayed(proposed(tmp_path), thread(*votes))
    rule = report["rules"]["approve_reject"]
    assert rule["requests"] == 1
    assert rule["examples"]["more_approvers"][0]["request_id"] == "q"
    # {managers, finance} → 2 of finance: other groups; bob (managers) could not decide, frank
    # (finance) still could.
    assert rule["counts"] == {"more_approvers": 1, "lost_deciders": 1}
    assert [p["reviewer"] for p in report["people"]] == [BOB]


def test_rules_of_tool_reviews_chain_stages_and_recorded_policies(tmp_path):
    settings = proposed(tmp_path)
    tool = thread(
        entry("t", {"x": 1}, stage="tool_review", action="start_databricks_job"),
        graph="databricks_workflow",
    )
    chain = thread(
        entry("c", {"x": 1}, stage="manager", action="deploy", chain={"chain_id": "k"}),
        graph="multi_stage_approval",
    )
    named = thread(
        entry("n", payment(10)),
        graph="something_else",
        policy={"rule": "approve_reject", "request_id": "n", "decided_by": ["managers"]},
    )
    report = replayed(settings, tool, chain, named)
    assert set(report["rules"]) == {
        "start_databricks_job",
        "multi_stage_approval.manager",
        "approve_reject",
    }


def test_old_requests_state_edits_and_examples_beyond_k_are_left_out(tmp_path):
    settings = proposed(tmp_path)
    old = thread(entry("old", payment(2500, "acct-trusted"), days_ago=40))
    edit = entry("e", {"operation": {}}, decision="state_edit", stage="state")
    recent = [thread(entry(f"r{n}", payment(2500, "acct-trusted")), edit) for n in range(5)]
    report = replayed(settings, old, *recent, examples=2)
    assert report["threads"] == 6 and report["requests"] == 5
    assert report["counts"]["auto_approved"] == 5
    assert len(report["rules"]["approve_reject"]["examples"]["auto_approved"]) == 2
    assert replayed(settings, old, days=45)["counts"]["auto_approved"] == 1


def test_a_condition_the_trail_cannot_answer_fails_closed_and_says_why(tmp_path):
    text = PROPOSED.replace("args.amount > 3000.0", "'finance' in groups || args.rush")
    report = replayed(proposed(tmp_path, text), thread(entry("f", payment(100))))
    rule = report["rules"]["approve_reject"]
    assert rule["counts"]["failed_closed"] == 1
    [example] = rule["examples"]["failed_closed"]
    assert example["proposed"]["requirement"] == "strictest"
    assert "rush" in example["proposed"]["because"]


def test_the_assistants_context_is_its_graphs_defaults_under_its_own():
    schema = {
        "properties": {
            "auto_approve_limit": {"default": 1000.0, "type": "number"},
            "review_targets": {"items": {"type": "string"}, "type": "array"},
            "stages": {"type": "array"},
        },
        "required": ["stages"],
    }
    assert context_of({"context": {}}, schema) == {
        "auto_approve_limit": 1000.0,
        "review_targets": [],
    }
    assert (
        context_of({"context": {"auto_approve_limit": 50.0}}, schema)["auto_approve_limit"] == 50.0
    )
    assert context_of({"context": None}, None) == {}


def test_the_shipped_policy_reads_the_assistants_context(tmp_path):
    shipped = load_proposed(DEFAULT_FILE)
    contexts = {"approve_reject": {"auto_approve_limit": 1000.0, "review_targets": []}}
    small = thread(entry("s", payment(900), recorded=MANAGER))
    report = replayed(shipped, small, contexts=contexts)
    assert report["counts"]["auto_approved"] == 1 and report["counts"]["failed_closed"] == 0
    assert replayed(shipped, small)["counts"]["failed_closed"] == 1  # no context: fails closed


def test_compare_names_each_kind_of_change():
    auto, deny = need("auto_approve"), need("deny")
    one, two = need(managers=1), need(managers=2)
    assert compare(as_need(one), as_need(auto)) == "auto_approved"
    assert compare(as_need(one), as_need(deny)) == "denied"
    assert compare(as_need(deny), as_need(one)) == "no_longer_denied"
    assert compare(as_need(auto), as_need(one)) == "more_approvers"
    assert compare(as_need(one), as_need(two)) == "more_approvers"
    assert compare(as_need(two), as_need(one)) is None
    assert compare(as_need(one), as_need(need(finance=1))) == "more_approvers"
    assert compare(as_need(one), as_need(need(finance=1)), then_recorded=False) is None


# Properties ------------------------------------------------------------------------------

amounts = st.floats(min_value=0.01, max_value=50_000, allow_nan=False).map(lambda a: round(a, 2))
targets = st.sampled_from(["acct-9", "acct-1", "acct-trusted", "sanctioned-7"])
contexts = st.fixed_dictionaries(
    {
        "auto_approve_limit": st.sampled_from([0.0, 100.0, 1000.0, 5000.0]),
        "review_targets": st.lists(targets, max_size=2),
    }
)
RULES = ("approve_reject", "edit_state", "multi_stage_approval.manager", "start_databricks_job")


def facts_of(rule: str, amount: float, target: str, context: dict[str, Any]) -> Facts:
    graph, _, stage = rule.partition(".")
    return Facts(
        args=payment(amount, target),
        action="payment",
        graph=graph if stage else "approve_reject",
        stage=stage or "review",
        requester=ALICE,
        groups=[],
        context=context,
        now=AT - timedelta(days=1),
    )


def recorded_trail(n: int, then: Need, args: dict[str, Any]) -> list[dict[str, Any]]:
    """The entries of request `n` as the policy that gave `then` would have recorded them."""
    if then["outcome"] != "approve":
        decision = "approve" if then["outcome"] == "auto_approve" else "reject"
        return [entry(f"r{n}", args, reviewer="system", decision=decision, recorded=dict(then))]
    return [
        entry(f"r{n}", args, reviewer=f"p{n}-{i}", recorded=dict(then), groups=quota["groups"][:1])
        for i, quota in enumerate(then["quotas"])
    ] or [entry(f"r{n}", args, recorded=dict(then))]


@EXAMPLES
@given(st.lists(st.tuples(amounts, targets), min_size=1, max_size=6), contexts)
def test_replaying_the_policy_in_force_changes_nothing(requests, context):
    in_force = load_proposed(DEFAULT_FILE)
    threads = []
    for n, (amount, target) in enumerate(requests):
        facts = facts_of("approve_reject", amount, target, context)
        then = need_for("approve_reject", facts, in_force)
        assert deciders_of(then) or then["outcome"] != "approve"
        threads.append(thread(*recorded_trail(n, then, facts["args"])))
    report = replayed(in_force, *threads, contexts={"approve_reject": context})
    assert report["requests"] == len(requests)
    counts = {kind: n for kind, n in report["counts"].items() if kind != "failed_closed"}
    assert set(counts.values()) == {0}, report["rules"]
    assert report["people"] == []


@EXAMPLES
@given(st.lists(st.tuples(amounts, targets), min_size=1, max_size=6))
def test_recorded_requests_rebuild_the_facts_the_policy_saw(requests):
    trail = [entry(f"r{n}", payment(a, t)) for n, (a, t) in enumerate(requests)]
    found = recorded_requests(thread(*trail), contexts={"approve_reject": {"k": 1}})
    assert [r.facts["args"] for r in found] == [payment(a, t) for a, t in requests]
    assert {(r.rule, r.facts["requester"], r.facts["graph"]) for r in found} == {
        ("approve_reject", ALICE, "approve_reject")
    }
    assert all(r.facts["context"] == {"k": 1} and r.then_recorded for r in found)
