"""The Databricks App's recovery hook, in process on a SQLite checkpoint store: a worker that
died between an approval and its execution leaves the thread to be run on, which runs the
payment once; recovery never applies an invocation's input again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from databricks_agentkit.runtime.types import InvocationAttemptContext, InvocationContext

from signoff.apps.invocations import CALLER, Invocations
from signoff.checkpoints.api import opened_api
from signoff.execution.ledger import read_entries
from signoff.graphs import GRAPHS

ALICE = {"user": "alice@signoff.local", "groups": ["users"]}
BOB = {"user": "bob@signoff.local", "groups": ["users", "managers"]}
PAYMENT = {"operation": {"kind": "payment", "amount": 5000, "target": "acct-recovery"}}


def dying_before_execution() -> Any:
    """approve_reject on a worker that stops after the approval, before the payment runs."""
    return GRAPHS["approve_reject"]().copy(update={"interrupt_before_nodes": ["execute"]})


def context(thread_id: str, attempt: int, events: list[dict[str, Any]]) -> InvocationContext:
    """An invocation's context (attempt 2 and later: recovery), collecting its events."""

    async def emit(event: dict[str, Any]) -> int:
        events.append(event)
        return len(events)

    attempt_context = InvocationAttemptContext("invocation", attempt, emit, thread_id)
    return InvocationContext("invocation", thread_id, attempt, attempt_context)


@pytest.fixture
def setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SIGNOFF_LEDGER", str(tmp_path / "ledger.jsonl"))
    return f"sqlite:///{tmp_path / 'checkpoints.sqlite'}"


def paid(setting: str, thread_id: str) -> list[dict[str, Any]]:
    return [e for e in read_entries(setting=setting) if e["thread_id"] == thread_id]


async def test_a_run_stopped_after_its_approval_is_run_on_once(setting: str) -> None:
    invocations, events = Invocations("approve_reject"), []
    answer = {"resume": "approve", CALLER: BOB}
    async with opened_api(setting, {"approve_reject": dying_before_execution}) as dying:
        invocations.use(dying)
        started = await invocations.invoke({**PAYMENT, CALLER: ALICE}, context("t1", 1, events))
        assert started["status"] == "interrupted"
        await invocations.invoke(answer, context("t1", 1, events))
    assert paid(setting, "t1") == []  # the worker died before the payment

    async with opened_api(setting) as api:
        invocations.use(api)
        recovered = await invocations.recover(answer, context("t1", 2, events))
        assert recovered["values"]["status"] == "executed"
        assert len(paid(setting, "t1")) == 1
        again = await invocations.recover(answer, context("t1", 3, events))
        assert again["values"]["status"] == "executed"
    assert len(paid(setting, "t1")) == 1


async def test_recovery_applies_no_answer_again(setting: str) -> None:
    invocations, events = Invocations("approve_reject"), []
    async with opened_api(setting) as api:
        invocations.use(api)
        await invocations.invoke({**PAYMENT, CALLER: ALICE}, context("t2", 1, events))
        recovered = await invocations.recover(
            {"resume": "approve", CALLER: BOB}, context("t2", 2, events)
        )
    assert recovered["status"] == "interrupted"
    assert paid(setting, "t2") == []
