"""review_tool_calls through the real server, on ChatDatabricks and UC function tools served by
the emulator: safe calls, every decision, parallel calls, failing calls."""

from __future__ import annotations

REFUND = "main__support__issue_refund"


def user(text):
    """Graph input carrying one user message."""
    return {"messages": [{"role": "user", "content": text}]}


def tool_results(result):
    """The tool messages of a final state, keyed by tool name."""
    return {m["name"]: m for m in result["messages"] if m["type"] == "tool"}


async def test_safe_calls_run_without_pausing(flow):
    run = flow("review_tool_calls")
    result = await run.start(user("look up order 17 and how many orders last week"))
    assert await run.status() == "idle"
    results = tool_results(result)
    assert "17" in results["main__support__lookup_order"]["content"]
    assert "order_count" in results["query_genie"]["content"]
    assert result["messages"][-1]["type"] == "ai" and not result["messages"][-1]["tool_calls"]
    assert result["audit"] == []


async def test_uc_function_call_is_reviewed_then_executed_once(flow):
    run = flow("review_tool_calls")
    await run.start(user(f"refund 25 on order 17 because damaged {run.tag}"))
    assert await run.status() == "interrupted"
    request = await run.request()
    assert request["action_requests"][0]["name"] == REFUND
    assert request["action_requests"][0]["args"] == {
        "order_id": 17,
        "amount": 25.0,
        "reason": f"damaged {run.tag}",
    }
    assert request["review_configs"][0]["allowed_decisions"] == [
        "approve",
        "edit",
        "reject",
        "respond",
    ]
    assert request["stage"] == "tool_review" and request["requested_by"] == "alice@signoff.local"
    assert request["decided_by"] == ["support-leads"]
    assert run.refunds() == []
    result = await run.resume({"decisions": [{"type": "approve"}]})
    assert await run.status() == "idle"
    [refund] = run.refunds()
    assert (refund["order_id"], refund["amount"]) == (17, 25.0)
    assert f"Refund R-{refund['refund_id']}" in tool_results(result)[REFUND]["content"]
    assert result["audit"][0]["decision"] == "approve"
    assert result["audit"][0]["reviewer"] == "bob@signoff.local"
    assert result["messages"][-1]["type"] == "ai"


async def test_edit_runs_with_validated_args_and_rewrites_the_call(flow):
    run = flow("review_tool_calls")
    await run.start(user(f"refund 25 on order 17 because damaged {run.tag}"))
    new_args = {"order_id": 17, "amount": 10.0, "reason": f"partial {run.tag}"}
    result = await run.resume([{"type": "edit", "args": {"action": REFUND, "args": new_args}}])
    [refund] = run.refunds()
    assert (refund["amount"], refund["reason"]) == (10.0, f"partial {run.tag}")
    ai_call = next(m for m in result["messages"] if m["type"] == "ai" and m["tool_calls"])
    assert ai_call["tool_calls"][0]["args"] == new_args
    assert result["audit"][0]["changes"]["amount"]["after"] == 10.0


async def test_reject_returns_an_error_tool_message_and_the_model_continues(flow):
    run = flow("review_tool_calls")
    await run.start(user(f"refund 25 on order 17 because damaged {run.tag}"))
    result = await run.resume({"decisions": [{"type": "reject", "message": "needs a photo"}]})
    message = tool_results(result)[REFUND]
    assert message["status"] == "error"
    assert message["content"] == "bob@signoff.local rejected this call: needs a photo"
    assert result["messages"][-1]["type"] == "ai"
    assert "needs a photo" in result["messages"][-1]["content"]
    assert run.refunds() == []


async def test_respond_returns_the_reviewers_text_without_running(flow):
    run = flow("review_tool_calls")
    await run.start(user(f"refund 5 on order 3 because late {run.tag}"))
    result = await run.resume([{"type": "response", "args": "Already refunded by phone."}])
    assert tool_results(result)[REFUND]["content"] == "Already refunded by phone."
    assert tool_results(result)[REFUND]["status"] == "success"
    assert run.refunds() == []
    assert result["audit"][0]["decision"] == "respond"


async def test_parallel_calls_each_pause_and_resume_one_by_one_by_id(flow):
    run = flow("review_tool_calls")
    await run.start(
        user(
            f"refund 5 on order 3 because late {run.tag} and "
            f"refund 7 on order 4 because broken {run.tag} and look up order 3"
        )
    )
    pending = {p["value"]["action_requests"][0]["args"]["order_id"]: p for p in await run.pending()}
    assert set(pending) == {3, 4}
    assert len({p["id"] for p in pending.values()}) == 2
    await run.resume({pending[3]["id"]: "approve"})
    assert await run.status() == "interrupted"
    assert [p["id"] for p in await run.pending()] == [pending[4]["id"]]
    assert run.refunds() == []  # nothing runs until every call of the turn is decided
    result = await run.resume({pending[4]["id"]: "no"})
    assert await run.status() == "idle"
    assert [r["order_id"] for r in run.refunds()] == [3]
    assert "order 3" in tool_results(result)["main__support__lookup_order"]["content"].lower()


async def test_parallel_calls_answered_all_at_once(flow):
    run = flow("review_tool_calls")
    await run.start(
        user(f"refund 1 on order 5 because a {run.tag} and refund 2 on order 6 because b {run.tag}")
    )
    pending = await run.pending()
    assert len(pending) == 2
    await run.resume({p["id"]: {"decisions": [{"type": "approve"}]} for p in pending})
    assert await run.status() == "idle"
    assert sorted(r["amount"] for r in run.refunds()) == [1.0, 2.0]


async def test_failing_function_is_reported_not_raised(flow):
    run = flow("review_tool_calls")
    await run.start(user(f"refund 25 on order 9999 because lost {run.tag}"))
    result = await run.resume("approve")
    assert await run.status() == "idle"
    assert "9999" in tool_results(result)[REFUND]["content"]
    assert result["messages"][-1]["type"] == "ai"
    assert run.refunds() == []


async def test_conversation_continues_on_the_same_thread(flow, client):
    run = flow("review_tool_calls")
    await run.start(user("look up order 17"))
    await client.runs.wait(
        run.thread_id,
        "review_tool_calls",
        input=user(f"refund 1 on order 17 because goodwill {run.tag}"),
    )
    assert await run.status() == "interrupted"
    result = await run.resume("yes")
    assert len([m for m in result["messages"] if m["type"] == "human"]) == 2
    assert len(run.refunds()) == 1
