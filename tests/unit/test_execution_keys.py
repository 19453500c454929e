"""Idempotency keys, in-process: one execution per key, a reused key with other arguments is
refused, and tool calls get thread-unique ids so no two calls share a review or a key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda

from signoff.execution import ledger
from tests.in_process import REFUND, RefundDesk, ScriptedModel, Thread, reviewed_refund_agent


def in_thread(thread_id: str, work: Any) -> Any:
    """Run `work()` inside a runnable whose config names `thread_id`, as a graph node would."""
    return RunnableLambda(lambda _: work()).invoke(None, {"configurable": {"thread_id": thread_id}})


def test_the_ledger_executes_a_key_once_and_refuses_it_with_other_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(os.environ, "SIGNOFF_LEDGER", str(tmp_path / "ledger.jsonl"))
    first = in_thread("t", lambda: ledger.execute("payment", {"amount": 5}, "key-1"))
    again = in_thread("t", lambda: ledger.execute("payment", {"amount": 5}, "key-1"))
    other = in_thread("t", lambda: ledger.execute("payment", {"amount": 5}, "key-2"))
    assert again == first and other["id"] != first["id"]
    assert len(ledger.read_entries()) == 2
    with pytest.raises(ValueError, match="executed before with other arguments"):
        in_thread("t", lambda: ledger.execute("payment", {"amount": 6}, "key-1"))
    assert len(ledger.read_entries()) == 2


class RepeatingIds(ScriptedModel):
    """A model that names every tool call `call_1`, turn after turn."""

    def _generate(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
        result = super()._generate(messages, *args, **kwargs)
        message = result.generations[0].message
        if isinstance(message, AIMessage) and message.tool_calls:
            message.tool_calls[0]["id"] = "call_1"
        return result


def test_a_call_id_repeated_in_a_later_turn_gets_its_own_review_and_key() -> None:
    desk = RefundDesk()
    agent = reviewed_refund_agent(desk, model=RepeatingIds())
    thread = Thread(agent)
    turn = {"messages": [{"role": "user", "content": "refund order 17"}]}
    ids = []
    for _ in range(2):
        thread.start(turn)
        request = thread.request()
        assert request["error"] is None  # a fresh pause, not an old decision replayed
        thread.answer("approve")
        calls = [m for m in thread.values()["messages"] if getattr(m, "tool_calls", None)]
        ids.append(calls[-1].tool_calls[0]["id"])
    assert ids[0] == "call_1" and ids[1] != "call_1"
    assert len(desk.executed) == 2
    assert [e["decision"] for e in thread.values()["audit"]] == ["approve", "approve"]


def test_a_lone_sensitive_call_runs_nothing_while_it_waits() -> None:
    desk = RefundDesk()
    thread = Thread(reviewed_refund_agent(desk))
    thread.start({"messages": [{"role": "user", "content": "refund order 17"}]})
    assert thread.request()["action_requests"][0]["name"] == REFUND
    assert desk.executed == []
    thread.answer({"decisions": [{"type": "reject", "message": "no"}]})
    assert desk.executed == []
    assert thread.values()["messages"][-1].content.endswith("rejected this call: no")
