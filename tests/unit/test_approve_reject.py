"""approve_reject in process: auto-approve, approve, reject, context thresholds, bad input."""

from __future__ import annotations

from signoff.graphs.approve_reject import RiskPolicy

PAYMENT = {"operation": {"kind": "payment", "amount": 5000, "target": "acct-9"}}


async def test_low_risk_is_auto_approved_and_audited(flow):
    run = flow("approve_reject")
    result = await run.start({"operation": {"amount": 40, "target": "acct-1"}})
    assert await run.status() == "idle"
    assert result["status"] == "executed"
    assert result["decision"] == "auto_approve"
    assert result["reviewers"] == ["system"]
    [entry] = result["audit"]
    assert entry["reviewer"] == "system" and entry["decision"] == "auto_approve"
    assert "requirement 'small payments' of 'approve_reject'" in entry["comment"]
    assert "args.amount <= context.auto_approve_limit" in entry["comment"]
    assert len(run.executions()) == 1


async def test_high_risk_pauses_with_the_protocol_request(flow):
    run = flow("approve_reject")
    await run.start(PAYMENT)
    assert await run.status() == "interrupted"
    [pending] = await run.pending()
    request = pending["value"]
    assert request["action_requests"][0]["name"] == "payment"
    assert request["action_requests"][0]["args"]["amount"] == 5000
    assert "requirement 'one manager up to 10,000'" in request["action_requests"][0]["description"]
    assert request["need"]["quotas"] == [{"groups": ["managers"], "count": 1}]
    assert request["review_configs"] == [
        {"action_name": "payment", "allowed_decisions": ["approve", "reject"]}
    ]
    assert request["stage"] == "review" and request["error"] is None
    assert len(request["args_digest"]) == 64 and request["request_id"]
    assert pending["response_schema"]["title"] == "ApprovalAnswer"
    assert run.executions() == []


async def test_approve_executes_exactly_once(flow):
    run = flow("approve_reject")
    await run.start(PAYMENT)
    digest = (await run.request())["args_digest"]
    result = await run.resume({"decisions": [{"type": "approve"}], "args_digest": digest})
    assert await run.status() == "idle"
    assert result["status"] == "executed" and result["decision"] == "approve"
    assert result["reviewers"] == ["bob@signoff.local"]
    [execution] = run.executions()
    assert execution["details"]["amount"] == 5000
    assert result["result"]["ledger_id"] == execution["id"]
    [entry] = result["audit"]
    assert (entry["stage"], entry["decision"], entry["reviewer"]) == (
        "review",
        "approve",
        "bob@signoff.local",
    )
    assert entry["args_before"] == entry["args_after"]


async def test_an_approval_comment_is_audited(flow):
    run = flow("approve_reject")
    await run.start(PAYMENT)
    approval = {"decisions": [{"type": "approve", "message": "invoice INV-7 checked"}]}
    result = await run.resume(approval)
    assert result["status"] == "executed"
    assert result["audit"][0]["comment"] == "invoice INV-7 checked"


async def test_reject_ends_with_the_reason_and_runs_nothing(flow):
    run = flow("approve_reject")
    await run.start(PAYMENT)
    result = await run.resume("too much for a Friday")
    assert await run.status() == "idle"
    assert result["status"] == "rejected"
    assert result["reason"] == "too much for a Friday"
    assert result["audit"][0]["comment"] == "too much for a Friday"
    assert result["audit"][0]["args_after"] is None
    assert run.executions() == []


async def test_invalid_operation_ends_plainly_without_running(flow):
    run = flow("approve_reject")
    result = await run.start({"operation": {"amount": -3, "target": ""}})
    assert result["status"] == "invalid"
    assert "amount" in result["reason"] and "target" in result["reason"]
    assert await run.status() == "idle"
    assert run.executions() == []


async def test_thresholds_come_from_the_runtime_context(flow):
    strict = RiskPolicy(auto_approve_limit=10, review_targets=["acct-vip"])
    await strict_thresholds_apply(flow("approve_reject"), flow("approve_reject"), context=strict)


async def strict_thresholds_apply(small, vip, **start):
    """Under `auto_approve_limit` 10 and `review_targets` ["acct-vip"], 40 to acct-1 and 1 to
    acct-vip both pause for a manager: the shipped rule's auto-approval reads both from the
    context."""
    for run, operation in (
        (small, {"amount": 40, "target": "acct-1"}),
        (vip, {"amount": 1, "target": "acct-vip"}),
    ):
        await run.start({"operation": operation}, **start)
        assert await run.status() == "interrupted"
        request = await run.request()
        assert (
            "requirement 'one manager up to 10,000'" in request["action_requests"][0]["description"]
        )
        assert request["need"]["requirement"] == "one manager up to 10,000"
