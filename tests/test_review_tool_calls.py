"""review_tool_calls through the real server: safe calls, every decision, parallel calls."""

from __future__ import annotations


def user(text):
    """Graph input carrying one user message."""
    return {"messages": [{"role": "user", "content": text}]}


def by_tool(pending):
    """Pending interrupts keyed by the tool they review."""
    return {item["value"]["action_requests"][0]["name"]: item for item in pending}


def tool_results(result):
    """The tool messages of a final state, keyed by tool name."""
    return {m["name"]: m for m in result["messages"] if m["type"] == "tool"}


async def test_safe_tool_runs_without_pausing(flow):
    run = flow("review_tool_calls")
    result = await run.start(user("balance of acct-1"))
    assert await run.status() == "idle"
    assert "Account acct-1 has a balance of" in result["messages"][-1]["content"]
    assert result["audit"] == [] and run.executions() == []


async def test_sensitive_call_pauses_and_approve_runs_it_once(flow):
    run = flow("review_tool_calls")
    await run.start(user("pay 250 to acct-7 for invoice 12"))
    assert await run.status() == "interrupted"
    request = await run.request()
    assert request["action_requests"][0] == {
        "name": "send_payment",
        "args": {"to": "acct-7", "amount": 250.0, "memo": "invoice 12"},
        "description": "Send money to an account. Irreversible: requires approval.",
    }
    assert request["review_configs"][0]["allowed_decisions"] == [
        "approve",
        "edit",
        "reject",
        "respond",
    ]
    assert request["stage"] == "tool_review" and request["requested_by"] == "agent"
    assert run.executions() == []
    result = await run.resume({"decisions": [{"type": "approve"}]})
    assert await run.status() == "idle"
    [payment] = run.executions()
    assert payment["details"] == {"to": "acct-7", "amount": 250.0, "memo": "invoice 12"}
    assert "Sent 250.00 USD to acct-7" in result["messages"][-1]["content"]
    assert result["audit"][0]["decision"] == "approve"


async def test_edit_runs_with_validated_args_and_rewrites_the_call(flow):
    run = flow("review_tool_calls")
    await run.start(user("pay 250 to acct-7 for invoice 12"))
    new_args = {"to": "acct-8", "amount": 99.5, "memo": "invoice 12 (partial)"}
    result = await run.resume(
        [{"type": "edit", "args": {"action": "send_payment", "args": new_args}}]
    )
    [payment] = run.executions()
    assert payment["details"] == new_args
    ai_call = next(m for m in result["messages"] if m["type"] == "ai" and m["tool_calls"])
    assert ai_call["tool_calls"][0]["args"] == new_args
    assert result["audit"][0]["changes"]["to"] == {
        "before": "acct-7",
        "after": "acct-8",
        "diff": result["audit"][0]["changes"]["to"]["diff"],
    }


async def test_reject_returns_an_error_tool_message_and_the_model_continues(flow):
    run = flow("review_tool_calls")
    await run.start(user("message ana@example.com: the deal is off"))
    result = await run.resume({"decisions": [{"type": "reject", "message": "legal must review"}]})
    message = tool_results(result)["send_message"]
    assert message["status"] == "error"
    assert message["content"] == "A reviewer rejected this call: legal must review"
    assert result["messages"][-1]["type"] == "ai"
    assert "send_message did not run: A reviewer rejected" in result["messages"][-1]["content"]
    assert run.executions() == []


async def test_respond_returns_the_reviewers_text_without_running(flow):
    run = flow("review_tool_calls")
    await run.start(user("pay 10 to acct-3"))
    result = await run.resume([{"type": "response", "args": "Paid already by wire yesterday."}])
    assert tool_results(result)["send_payment"]["content"] == "Paid already by wire yesterday."
    assert tool_results(result)["send_payment"]["status"] == "success"
    assert run.executions() == []
    assert result["audit"][0]["decision"] == "respond"


async def test_parallel_calls_each_pause_and_resume_one_by_one_by_id(flow):
    run = flow("review_tool_calls")
    await run.start(
        user("pay 250 to acct-7 and message ana@example.com: paid and balance of acct-1")
    )
    pending = by_tool(await run.pending())
    assert set(pending) == {"send_payment", "send_message"}
    assert len({p["id"] for p in pending.values()}) == 2
    await run.resume({pending["send_payment"]["id"]: "approve"})
    assert await run.status() == "interrupted"
    still = await run.pending()
    assert [p["id"] for p in still] == [pending["send_message"]["id"]]
    assert run.executions() == []  # nothing runs until every call of the turn is decided
    result = await run.resume({pending["send_message"]["id"]: "no"})
    assert await run.status() == "idle"
    assert [e["kind"] for e in run.executions()] == ["payment"]
    results = tool_results(result)
    assert results["send_message"]["status"] == "error"
    assert "balance of" in results["get_balance"]["content"]


async def test_parallel_calls_answered_all_at_once(flow):
    run = flow("review_tool_calls")
    await run.start(user("pay 5 to acct-1 and pay 6 to acct-2"))
    pending = await run.pending()
    assert len(pending) == 2
    await run.resume({p["id"]: {"decisions": [{"type": "approve"}]} for p in pending})
    assert await run.status() == "idle"
    assert sorted(e["details"]["amount"] for e in run.executions()) == [5.0, 6.0]


async def test_model_tool_argument_error_is_returned_not_raised(flow):
    run = flow("review_tool_calls")
    await run.start(user("pay 0 to acct-1"))
    result = await run.resume("approve")
    assert await run.status() == "idle"
    assert tool_results(result)["send_payment"]["status"] == "error"
    assert "greater than 0" in tool_results(result)["send_payment"]["content"]
    assert run.executions() == []


async def test_conversation_continues_on_the_same_thread(flow, client):
    run = flow("review_tool_calls")
    await run.start(user("balance of acct-1"))
    await client.runs.wait(run.thread_id, "review_tool_calls", input=user("pay 1 to acct-1"))
    assert await run.status() == "interrupted"
    result = await run.resume("yes")
    assert len([m for m in result["messages"] if m["type"] == "human"]) == 2
    assert len(run.executions()) == 1
