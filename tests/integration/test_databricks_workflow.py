"""databricks_workflow through the real server, the real clients and the emulator: start,
approve, poll, cancel, Genie, streaming, and failures the agent explains."""

from __future__ import annotations

import httpx
import pytest


def user(text):
    """Graph input carrying one user message."""
    return {"messages": [{"role": "user", "content": text}]}


def answer(result):
    """The agent's final text."""
    assert result["messages"][-1]["type"] == "ai"
    return result["messages"][-1]["content"]


async def say(run, text):
    """A later turn on the same thread."""
    return await run.client.runs.wait(run.thread_id, run.graph, input=user(text))


def advance_clock(emulator, seconds):
    """Move the emulator's job clock forward."""
    httpx.post(
        f"{emulator.url}/emulator/clock/advance", json={"seconds": seconds}
    ).raise_for_status()


async def started_run(run):
    """Start the nightly job for this flow's tag, approve it, and return the run id."""
    await run.start(user(f"start the nightly job for {run.tag}"))
    result = await run.resume("approve")
    [run_id] = result["job_runs"]
    return int(run_id)


async def test_start_pauses_and_approve_starts_exactly_one_run(flow, workspace):
    run = flow("databricks_workflow")
    await run.start(user(f"start the nightly job for {run.tag}"))
    assert await run.status() == "interrupted"
    request = await run.request()
    assert request["action_requests"][0]["name"] == "start_databricks_job"
    assert run.tag in request["action_requests"][0]["args"]["user_request"]
    assert request["review_configs"][0]["allowed_decisions"] == ["approve", "edit", "reject"]
    assert run.job_runs() == []
    result = await run.resume({"decisions": [{"type": "approve"}]})
    assert await run.status() == "idle"
    [started] = run.job_runs()
    run_id = started["run_id"]
    assert f"Started run {run_id} of the nightly job" in answer(result)
    assert result["job_runs"][str(run_id)]["run_page_url"].endswith(f"/run/{run_id}")
    real = workspace.jobs.get_run(run_id)
    assert real.job_id == 101 and real.state.life_cycle_state.value == "PENDING"
    tools_called = [m["name"] for m in result["messages"] if m["type"] == "tool"]
    assert tools_called == ["start_databricks_job"]  # the agent never polls by itself


async def test_reject_starts_no_run(flow):
    run = flow("databricks_workflow")
    await run.start(user(f"start the nightly job for {run.tag}"))
    result = await run.resume("not during the freeze")
    assert run.job_runs() == []
    assert "not during the freeze" in answer(result)
    assert result.get("job_runs", {}) == {}


async def test_edit_changes_the_parameters_the_job_receives(flow, workspace):
    run = flow("databricks_workflow")
    await run.start(user(f"start the nightly job for {run.tag}"))
    edited = {"user_request": f"full backfill {run.tag}", "parameters": {"mode": "full"}}
    await run.resume(
        {
            "decisions": [
                {"type": "edit", "edited_action": {"name": "start_databricks_job", "args": edited}}
            ]
        }
    )
    [started] = run.job_runs()
    assert started["job_parameters"]["mode"] == "full"
    assert started["job_parameters"]["user_request"] == f"full backfill {run.tag}"
    params = {p.name: p.value for p in workspace.jobs.get_run(started["run_id"]).job_parameters}
    assert params["mode"] == "full"


async def test_replaying_the_approval_starts_no_second_run(flow):
    run = flow("databricks_workflow")
    await started_run(run)  # approved by carol, a data engineer
    for replay in ("approve", {"decisions": [{"type": "approve"}]}):
        with pytest.raises(httpx.HTTPStatusError) as refused:  # nothing is pending any more
            await run.resume(replay, as_user="carol")
        assert refused.value.response.status_code == 409
    assert len(run.job_runs()) == 1


async def test_status_reports_running_then_success(flow, emulator):
    run = flow("databricks_workflow")
    run_id = await started_run(run)
    advance_clock(emulator, 2)
    first = await say(run, f"status of run {run_id}")
    assert await run.status() == "idle"  # polling is safe: no pause
    assert "RUNNING" in answer(first)
    assert first["job_runs"][str(run_id)]["life_cycle_state"] == "RUNNING"
    advance_clock(emulator, 3600)
    second = await say(run, f"status of run {run_id}")
    assert "SUCCESS" in answer(second)
    assert second["job_runs"][str(run_id)]["result_state"] == "SUCCESS"


async def test_cancel_pauses_and_approval_cancels_the_run(flow, workspace):
    run = flow("databricks_workflow")
    run_id = await started_run(run)
    await say(run, f"cancel run {run_id}")
    assert await run.status() == "interrupted"
    request = await run.request()
    assert request["summary"] == f"terminate Databricks job run {run_id}"
    assert request["action_requests"][0] == {
        "name": "terminate_databricks_job",
        "args": {"run_id": run_id},
        "description": f"terminate Databricks job run {run_id}. Cancel a pending, queued or "
        "running Databricks job run. Requires approval.",
        "arguments": {"run_id": str(run_id)},  # as Agent Inbox renders it: text
    }
    assert request["review_configs"][0]["allowed_decisions"] == ["approve", "reject"]
    assert workspace.jobs.get_run(run_id).state.result_state is None
    result = await run.resume("approve")
    assert workspace.jobs.get_run(run_id).state.result_state.value == "CANCELED"
    assert result["job_runs"][str(run_id)]["result_state"] == "CANCELED"
    assert "CANCELED" in answer(result)


async def test_genie_question_comes_back_with_its_table(flow):
    run = flow("databricks_workflow")
    result = await run.start(user("how many orders last week"))
    assert await run.status() == "idle"
    text = answer(result)
    assert "orders in the last 7 days" in text and "order_count" in text and "|" in text


async def test_streaming_a_turn_returns_message_chunks(flow, client):
    run = flow("databricks_workflow")
    thread = await client.threads.create()
    partial = []
    async for event in client.runs.stream(
        thread["thread_id"],
        "databricks_workflow",
        input=user("total revenue last week"),
        stream_mode="messages",
    ):
        if event.event == "messages/partial":
            partial.append(event.data[0])
    ai_text = [m["content"] for m in partial if m["type"] == "ai" and m["content"]]
    assert len(ai_text) >= 3  # the answer arrives in several chunks
    assert ai_text[-1].startswith(ai_text[0])
    assert run.job_runs() == []


async def test_missing_run_is_explained_and_the_thread_stays_usable(flow):
    run = flow("databricks_workflow")
    first = await run.start(user("status of run 987654"))
    assert "Run 987654 does not exist" in answer(first)
    assert await run.status() == "idle"
    await say(run, "cancel run 987654")
    result = await run.resume("approve")
    assert "Run 987654 does not exist" in answer(result)
    assert await run.status() == "idle"
    later = await say(run, "how many orders last week")
    assert "order_count" in answer(later)


async def test_model_endpoint_comes_from_the_assistant_context(flow, client, server, admin):
    elsewhere = await admin.assistants.create(
        "databricks_workflow", context={"model_endpoint": "no-such-endpoint"}
    )
    run = flow("databricks_workflow")
    run.graph = elsewhere["assistant_id"]
    thread = await client.threads.create()
    run.thread_id = thread["thread_id"]
    created = await client.runs.create(run.thread_id, run.graph, input=user("how many orders"))
    output = await client.runs.join(run.thread_id, created["run_id"])
    assert output["__error__"]["error"] == "NotFoundError"  # the emulator serves no such endpoint
    assert "no-such-endpoint" in server.log.read_text()
    switch = client.runs.wait(run.thread_id, "databricks_workflow", input=user("how many orders"))
    with pytest.raises(httpx.HTTPStatusError) as refused:  # a thread keeps its assistant
        await switch
    assert f"Run it with assistant_id {run.graph}" in refused.value.response.text
    elsewhere_thread = (await client.threads.create())["thread_id"]
    ok = await client.runs.wait(
        elsewhere_thread, "databricks_workflow", input=user("how many orders")
    )
    assert "orders" in answer(ok)
