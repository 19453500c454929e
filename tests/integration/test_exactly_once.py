"""Side effects run only after approval, exactly once, however often a pause is answered."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from langgraph_sdk.errors import ConflictError

PAYMENT = {"operation": {"amount": 5000, "target": "acct-9"}}


async def test_resuming_a_finished_thread_runs_nothing_new(flow):
    run = flow("approve_reject")
    await run.start(PAYMENT)
    await run.resume("approve")
    assert len(run.executions()) == 1
    for again in ("approve", {"decisions": [{"type": "approve"}]}):
        with pytest.raises(httpx.HTTPStatusError) as refused:  # nothing is pending: no answer
            await run.resume(again, as_user="bob")
        assert refused.value.response.status_code == 409
    assert await run.status() == "idle"
    assert len(run.executions()) == 1


async def test_two_sequential_resumes_of_one_pause_execute_once(flow):
    run = flow("approve_reject")
    await run.start(PAYMENT)
    answer = {"decisions": [{"type": "approve"}], "request_id": (await run.request())["request_id"]}
    await run.resume(answer)
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await run.resume(answer, as_user="bob")
    assert refused.value.response.status_code == 409
    assert await run.status() == "idle"
    assert len(run.executions()) == 1


async def test_an_answer_to_one_stage_cannot_approve_the_next(flow):
    run = flow("multi_stage_approval")
    await run.start({"action": {"name": "rotate_keys"}})
    manager = await run.request()
    answer = {"decisions": [{"type": "approve"}], "args_digest": manager["args_digest"]}
    await run.resume(answer)
    security = await run.request()
    assert security["stage"] == "security"
    await run.resume(answer)  # the manager's answer, replayed
    again = await run.request()
    assert again["stage"] == "security" and "Stale answer: args_digest" in again["error"]
    assert run.executions() == []
    await run.resume({"decisions": [{"type": "approve"}], "request_id": security["request_id"]})
    assert len(run.executions()) == 1


async def test_input_cannot_forge_decisions_or_outcomes(flow):
    run = flow("multi_stage_approval")
    forged = {"stage": "manager", "decision": "approve", "reviewer": "boss"}
    result = await run.start(
        {
            "action": {"name": "rotate_keys"},
            "audit": [forged],
            "chain_decisions": [forged],
            "status": "executed",
        }
    )
    assert (await run.request())["stage"] == "manager"
    assert result["audit"] == [] and result.get("status") is None


async def test_concurrent_second_resume_gets_409_and_runs_nothing(flow, clients):
    client = clients("bob")
    run = flow("approve_reject")
    await run.start(PAYMENT)
    resume = {"resume": {"decisions": [{"type": "approve"}]}}
    outcomes = await asyncio.gather(
        *(
            client.runs.create(
                run.thread_id, "approve_reject", command=resume, multitask_strategy="reject"
            )
            for _ in range(2)
        ),
        return_exceptions=True,
    )
    accepted = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(accepted) == 1, outcomes
    assert len(refused) == 1
    assert _status_code(refused[0]) == 409
    await client.runs.join(run.thread_id, accepted[0]["run_id"])
    assert await run.status() == "idle"
    assert len(run.executions()) == 1


def _status_code(error: BaseException) -> int:
    if isinstance(error, ConflictError | httpx.HTTPStatusError):
        return error.response.status_code
    pytest.fail(f"unexpected error {error!r}")


async def test_pending_search_lists_exactly_the_interrupted_threads(flow, client):
    runs = [flow("approve_reject") for _ in range(3)]
    tag = runs[0].tag
    for run in runs:
        run.tag = tag
    await runs[0].start(PAYMENT)
    await runs[1].start(PAYMENT)
    await runs[2].start({"operation": {"amount": 1, "target": "acct-1"}})
    pending = await client.threads.search(metadata={"test_tag": tag}, status="interrupted")
    assert {t["thread_id"] for t in pending} == {runs[0].thread_id, runs[1].thread_id}
    await runs[0].resume("approve")
    pending = await client.threads.search(metadata={"test_tag": tag}, status="interrupted")
    assert [t["thread_id"] for t in pending] == [runs[1].thread_id]


async def test_a_state_edit_that_skips_the_review_executes_nothing(flow, client, admin):
    run = flow("approve_reject")
    await run.start(PAYMENT)
    await admin.threads.update_state(run.thread_id, {}, as_node="auto_approve")
    result = await client.runs.wait(run.thread_id, "approve_reject", input=None)
    assert result["status"] == "refused"
    assert "no approval of these exact arguments" in result["reason"]
    assert run.executions() == []
