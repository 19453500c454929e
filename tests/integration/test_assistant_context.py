"""Assistants carry a graph's runtime context through the real server: approve_reject's
thresholds and multi_stage_approval's chain (created by an admin)."""

from __future__ import annotations

from tests.unit.test_approve_reject import strict_thresholds_apply
from tests.unit.test_multi_stage_approval import (
    one_oncall_stage_approves,
    security_then_manager_approve,
)


async def test_thresholds_come_from_the_assistant_context(flow, client, admin):
    strict = await admin.assistants.create(
        "approve_reject", context={"auto_approve_limit": 10, "review_targets": ["acct-vip"]}
    )
    assistant = strict["assistant_id"]
    await strict_thresholds_apply(
        flow("approve_reject"), flow("approve_reject"), assistant=assistant
    )


async def test_chain_comes_from_the_context_and_is_fixed_per_thread(flow, client, admin):
    chain = await admin.assistants.create(
        "multi_stage_approval", context={"stages": ["security", "manager"]}
    )
    run = flow("multi_stage_approval")
    run.graph = chain["assistant_id"]
    await security_then_manager_approve(run)


async def test_single_stage_chain(flow, client, admin):
    chain = await admin.assistants.create("multi_stage_approval", context={"stages": ["oncall"]})
    run = flow("multi_stage_approval")
    run.graph = chain["assistant_id"]
    await one_oncall_stage_approves(run)
