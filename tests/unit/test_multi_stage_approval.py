"""multi_stage_approval in process: the chain, rejections, chains from the runtime context."""

from __future__ import annotations

from signoff.graphs.multi_stage_approval import ApprovalChain

DEPLOY = {"action": {"name": "deploy_release", "args": {"version": "2.4.0", "env": "prod"}}}


async def test_each_stage_pauses_in_order_showing_earlier_decisions(flow):
    run = flow("multi_stage_approval")
    await run.start(DEPLOY)
    manager = await run.request()
    assert manager["stage"] == "manager" and manager["earlier_decisions"] == []
    await run.resume({"decisions": [{"type": "approve"}]})
    assert await run.status() == "interrupted"
    security = await run.request()
    assert security["stage"] == "security"
    assert [d["stage"] for d in security["earlier_decisions"]] == ["manager"]
    assert security["earlier_decisions"][0]["decision"] == "approve"
    assert security["request_id"] != manager["request_id"]
    assert run.executions() == []
    result = await run.resume("approved")
    assert result["status"] == "executed"
    assert [e["stage"] for e in result["audit"]] == ["manager", "security"]
    assert result["reviewers"] == ["bob@signoff.local", "carol@signoff.local"]
    [execution] = run.executions()
    assert execution["kind"] == "deploy_release" and execution["details"]["version"] == "2.4.0"


async def test_rejection_stops_the_chain_and_names_the_stage(flow):
    run = flow("multi_stage_approval")
    await run.start(DEPLOY)
    await run.resume("yes")
    result = await run.resume({"decisions": [{"type": "reject", "message": "CVE open"}]})
    assert result["status"] == "rejected" and result["rejected_at"] == "security"
    assert result["reason"] == "CVE open"
    assert await run.status() == "idle"
    assert run.executions() == []


async def test_first_stage_rejection_never_asks_the_next(flow):
    run = flow("multi_stage_approval")
    await run.start(DEPLOY)
    result = await run.resume("no")
    assert result["rejected_at"] == "manager"
    assert [e["stage"] for e in result["audit"]] == ["manager"]
    assert run.executions() == []


async def test_the_chain_comes_from_the_runtime_context(flow):
    chain = ApprovalChain(stages=["security", "manager"])
    await security_then_manager_approve(flow("multi_stage_approval"), context=chain)


async def test_a_single_stage_chain_is_decided_by_the_default_rule(flow):
    await one_oncall_stage_approves(
        flow("multi_stage_approval"), context=ApprovalChain(stages=["oncall"])
    )


async def security_then_manager_approve(run, **start):
    """Start `run` (its chain: security, then manager) and approve each stage in turn."""
    await run.start(DEPLOY, **start)
    seen = []
    for _ in range(2):
        seen.append((await run.request())["stage"])
        result = await run.resume("approve")
    assert seen == ["security", "manager"]
    assert result["reviewers"] == ["carol@signoff.local", "bob@signoff.local"]
    assert result["status"] == "executed" and len(run.executions()) == 1


async def one_oncall_stage_approves(run, **start):
    """Start `run` (its chain: oncall alone, which no rule names) and approve it."""
    await run.start(DEPLOY, **start)
    assert (await run.request())["stage"] == "oncall"
    assert (await run.request())["decided_by"] == ["signoff-admins"]  # the default rule
    assert (await run.resume("approve"))["status"] == "executed"


async def test_a_chain_with_repeated_stages_is_invalid_and_asks_nobody(flow):
    run = flow("multi_stage_approval")
    result = await run.start(DEPLOY, context=ApprovalChain(stages=["manager", "manager"]))
    assert result["status"] == "invalid" and "distinct names" in result["reason"]
    assert await run.status() == "idle" and run.executions() == []
