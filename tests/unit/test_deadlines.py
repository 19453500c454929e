"""Deadlines in process: a request carries them, expiry fails closed and is bound to its
request, escalation widens who may decide, and the settings refuse what cannot work."""

from __future__ import annotations

from datetime import timedelta

import pytest

import signoff.clock
from signoff.governance import deadlines
from signoff.governance.deadlines import DeadlineOverrides, policy_for
from signoff.graphs.approve_reject import RiskPolicy
from signoff.graphs.multi_stage_approval import ApprovalChain
from signoff.review.agent_context import AgentContext
from signoff.settings import DEFAULT_FILE, duration_seconds, load_settings
from tests.in_process import REFUND_AGENT

PAYMENT = {"operation": {"kind": "payment", "amount": 5000, "target": "acct-9"}}
DEPLOY = {"action": {"name": "deploy_release", "args": {"version": "2.4.0"}}}
BRIEF = {"brief": {"to": ["ops@example.com"], "topic": "the outage"}}
STRICT = {"expire_after_seconds": 60, "escalate_after_seconds": 30, "escalate_to": "security"}


def expire(request):
    """The answer the sweeper sends for `request`."""
    return {"type": "expire", "request_id": request["request_id"]}


@pytest.fixture
def clock(monkeypatch):
    """Move `signoff.clock.now` forward: `clock(90)` is 90 s from the real now."""
    real = signoff.clock.now()

    def advance(seconds: float) -> None:
        monkeypatch.setattr(signoff.clock, "now", lambda: real + timedelta(seconds=seconds))

    return advance


async def test_a_request_shows_when_it_was_raised_and_its_deadlines(flow):
    run = flow("approve_reject")
    await run.start(PAYMENT, context=RiskPolicy(**STRICT))
    request = await run.request()
    raised = deadlines.datetime.fromisoformat(request["created_at"])
    assert deadlines.datetime.fromisoformat(request["expires_at"]) - raised == timedelta(seconds=60)
    assert request["escalate_to"] == "security" and request["escalates_at"] < request["expires_at"]
    assert request["remind_at"]  # signoff.toml's default rule


@pytest.mark.parametrize(
    ("graph", "payload", "context"),
    [
        ("approve_reject", PAYMENT, RiskPolicy(**STRICT)),
        ("edit_state", BRIEF, DeadlineOverrides(**STRICT)),
        ("multi_stage_approval", DEPLOY, ApprovalChain(**STRICT)),
    ],
)
async def test_an_expired_request_ends_expired_decided_by_system_and_runs_nothing(
    flow, clock, graph, payload, context
):
    run = flow(graph)
    await run.start(payload, context=context)
    request = await run.request()
    clock(61)
    result = await run.resume(expire(request), as_user="erin")
    assert result["status"] == "expired" and result["reason"] == "expired"
    [entry] = result["audit"]
    assert (entry["decision"], entry["reviewer"]) == ("reject", "system")
    assert entry["request_id"] == request["request_id"]
    assert "expire_after 60 s of rule" in entry["comment"]
    assert await run.status() == "idle" and run.executions() == []


async def test_an_expiry_before_its_time_is_refused_and_the_request_stays_answerable(flow):
    run = flow("approve_reject")
    await run.start(PAYMENT, context=RiskPolicy(**STRICT))
    request = await run.request()
    await run.resume(expire(request), as_user="erin")
    again = await run.request()
    assert "does not expire before" in again["error"]
    assert again["request_id"] == request["request_id"]
    assert (await run.resume("approve"))["status"] == "executed"


async def test_an_expiry_is_bound_to_its_request(flow, clock):
    run = flow("multi_stage_approval")
    await run.start(DEPLOY, context=ApprovalChain(**STRICT))
    manager = await run.request()
    await run.resume("approve")
    clock(61)  # the security stage was raised later: its own clock
    await run.resume(expire(manager), as_user="erin")
    security = await run.request()
    assert security["stage"] == "security"
    assert "an expiry is bound to the request that expired" in security["error"]
    assert run.executions() == []


async def test_a_request_answered_in_time_is_never_expired_afterwards(flow, clock):
    run = flow("approve_reject")
    await run.start(PAYMENT, context=RiskPolicy(**STRICT))
    request = await run.request()
    assert (await run.resume("approve"))["status"] == "executed"
    clock(61)
    result = await run.resume(expire(request), as_user="erin")
    assert result["status"] == "executed" and len(run.executions()) == 1


async def test_escalation_lets_the_escalation_group_decide_from_its_time(flow, clock):
    run = flow("approve_reject")
    await run.start(PAYMENT, context=RiskPolicy(**STRICT))
    await run.resume("approve", as_user="carol")  # security: not a manager
    refused = (await run.request())["error"]
    assert "carol@signoff.local may not decide" in refused
    assert "also of security" in refused  # what would be allowed, and from when
    clock(31)
    result = await run.resume("approve", as_user="carol")
    assert result["status"] == "executed" and result["reviewers"] == ["carol@signoff.local"]
    assert result["audit"][0]["escalated_to"] == "security"  # how carol came to decide


def test_the_context_overrides_the_settings_and_the_default_rule_covers_the_rest():
    default = load_settings().deadlines["default"]
    assert policy_for("some_new_tool") == default
    assert policy_for("start_databricks_job").expire_after == 8 * 3600
    overridden = policy_for("approve_reject", DeadlineOverrides(expire_after_seconds=3))
    assert overridden.expire_after == 3 and overridden.remind_after == default.remind_after


@pytest.mark.parametrize(
    ("text", "seconds"), [(300, 300), ("90s", 90), ("15m", 900), ("2d", 172800)]
)
def test_durations_read_as_seconds(text, seconds):
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "-5m", 0, True, "3w"])
def test_a_bad_duration_says_what_is_accepted(bad):
    with pytest.raises(ValueError, match='"90s", "15m", "4h" or "2d"'):
        duration_seconds(bad)


def test_settings_refuse_an_escalation_without_its_group(tmp_path):
    settings = tmp_path / "signoff.toml"
    base = DEFAULT_FILE.read_text(encoding="utf-8")
    settings.write_text(base + '\n[deadlines.approve_reject]\nescalate_after = "1h"\n')
    with pytest.raises(ValueError, match="needs escalate_after and escalate_to together"):
        load_settings.__wrapped__(str(settings))


async def test_an_expired_tool_call_is_rejected_to_the_model_and_never_runs(flow, clock):
    run = flow(REFUND_AGENT)
    await run.start(
        {"messages": [{"role": "user", "content": "refund"}]},
        context=AgentContext(model_endpoint="scripted", expire_after_seconds=60),
    )
    request = await run.request()
    clock(61)
    result = await run.resume(expire(request), as_user="erin")
    tool_result = result["messages"][-2]
    assert tool_result.status == "error" and "expired at" in tool_result.content
    assert result["audit"][-1]["reviewer"] == "system" and run.executions() == []
