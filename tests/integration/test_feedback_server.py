"""Decisions as MLflow feedback through a real `langgraph dev` (`SIGNOFF_MLFLOW_FEEDBACK=on`,
a local MLflow tracking store, the embedded emulator): the server traces every run, and a
decision answered through the API is a label on the trace of the run that raised the request,
read back from the store by this process."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.entities import Assessment

from tests.dev_users import signed_in_clients
from tests.langgraph_server import LanggraphServer, copy_project

PAYMENT = {"operation": {"kind": "payment", "amount": 5000, "target": "acct-9"}}


@pytest.fixture
def traced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LanggraphServer]:
    """A server with feedback on, its traces in a SQLite MLflow store this process reads too."""
    for name in [n for n in os.environ if n.startswith("DATABRICKS_")]:
        monkeypatch.delenv(name)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    env = {"SIGNOFF_MLFLOW_FEEDBACK": "on", "MLFLOW_TRACKING_URI": uri}
    server = LanggraphServer(copy_project(tmp_path / "project"), env=env).start()
    yield server
    server.stop()


async def labels_on(trace_id: str, timeout: float = 60) -> list[Assessment]:
    """The assessments on trace `trace_id`, once there are any (the server logs them in the
    background)."""
    async with asyncio.timeout(timeout):
        while True:
            trace = await asyncio.to_thread(mlflow.get_trace, trace_id, silent=True)
            if trace is not None and trace.info.assessments:
                return trace.info.assessments
            await asyncio.sleep(0.3)


async def test_an_answer_through_the_api_is_feedback_on_the_run_that_raised_the_request(traced):
    async with signed_in_clients(traced.url) as client_for:
        alice, bob = client_for("alice"), client_for("bob")
        thread = await alice.threads.create()
        thread_id = thread["thread_id"]
        await alice.runs.wait(thread_id, "approve_reject", input=PAYMENT)
        state = await alice.threads.get_state(thread_id)
        trace_id = state["values"]["policy"]["trace_id"]
        [request] = [i["value"] for i in state["interrupts"]]
        answer = {"decisions": [{"type": "approve", "message": "invoice checked"}]}
        done = await bob.runs.wait(
            thread_id, "approve_reject", command={"resume": answer}, multitask_strategy="reject"
        )
        assert done["status"] == "executed"

    [label] = await labels_on(trace_id)
    assert (label.name, label.value, label.rationale) == (
        "signoff_decision",
        "approve",
        "invoice checked",
    )
    assert (label.source.source_type, label.source.source_id) == ("HUMAN", "bob@signoff.local")
    assert label.metadata["signoff.request_id"] == request["request_id"]
    assert label.metadata["signoff.graph"] == "approve_reject"
    spans = mlflow.get_trace(trace_id).data.spans
    assert "assess_risk" in [span.name for span in spans]  # the run alice started
