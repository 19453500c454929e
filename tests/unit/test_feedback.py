"""Decisions as MLflow feedback (`signoff.signals.feedback`), in process on a local MLflow
tracking store (SQLite in a temporary directory).

The graphs are traced as the server traces them (`trace_graph_runs`, each run an asyncio task
of its own). Each decision is a label on the trace of the run that raised its request, once,
however often its node runs; nothing is logged when feedback is off or nothing traces the
run; an MLflow that hangs or fails never holds up or breaks a decision.
"""

from __future__ import annotations

import asyncio
import http.server
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Coroutine, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow
import pytest
from hypothesis import given
from hypothesis import strategies as st
from langgraph.types import Command
from mlflow.entities import Assessment

import signoff.clock
from signoff.graphs.approve_reject import RiskPolicy
from signoff.protocol.shapes import ActionRequest, Decision, build_request
from signoff.signals import feedback
from tests.in_process import REFUND_AGENT, dev_identity
from tests.property_settings import EXAMPLES

ROOT = Path(__file__).resolve().parents[2]
PAYMENT = {"operation": {"kind": "payment", "amount": 5000, "target": "acct-9"}}
LARGE = {"operation": {"kind": "payment", "amount": 50_000, "target": "acct-9"}}
REFUND = {"messages": [{"role": "user", "content": "refund order 17, it arrived broken"}]}


@pytest.fixture(scope="module", autouse=True)
def tracking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """MLflow pointed at a SQLite store of this module's, feedback on, and every graph run
    traced; the store's URI."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setenv("SIGNOFF_MLFLOW_FEEDBACK", "on")
        assert feedback.trace_graph_runs()
        try:
            yield uri
        finally:
            feedback.flush()
            mlflow.langchain.autolog(disable=True)
            mlflow.flush_trace_async_logging()


def in_task(run: Coroutine[Any, Any, dict[str, Any]]) -> asyncio.Task[dict[str, Any]]:
    """`run` as an asyncio task of its own, as the server runs each run: MLflow's inline
    tracer keeps a run's trace in its task's context."""
    return asyncio.create_task(run)


def labels(trace_id: str) -> list[Assessment]:
    """The assessments on trace `trace_id`, once every queued decision is logged."""
    feedback.flush()
    trace = mlflow.get_trace(trace_id, flush=True)
    assert trace is not None, trace_id
    return trace.info.assessments


def raising_trace(values: dict[str, Any], call: str | None = None) -> str:
    """The trace a thread's request keeps: in its policy, or a tool call's."""
    policy = values["review_policies"][call] if call else values["policy"]
    return policy["trace_id"]


def span_names(trace_id: str) -> list[str]:
    """The names of the spans of trace `trace_id`."""
    trace = mlflow.get_trace(trace_id, flush=True)
    assert trace is not None, trace_id
    return [span.name for span in trace.data.spans]


async def test_an_approval_is_human_feedback_on_the_trace_of_the_run_that_raised_it(flow):
    run = flow("approve_reject")
    await in_task(run.start(PAYMENT))
    request = await run.request()
    trace_id = raising_trace(await run.values())
    assert "assess_risk" in span_names(trace_id)  # the run that started the thread

    values = await in_task(run.resume({"decisions": [{"type": "approve", "message": "paid"}]}))
    assert values["status"] == "executed"
    [label] = labels(trace_id)
    assert (label.name, label.value, label.rationale) == ("signoff_decision", "approve", "paid")
    assert (label.source.source_type, label.source.source_id) == ("HUMAN", "bob@signoff.local")
    assert label.metadata == {
        "signoff.request_id": request["request_id"],
        "signoff.action_index": "0",
        "signoff.thread_id": run.thread_id,
        "signoff.stage": "review",
        "signoff.action": "payment",
    }
    answering = mlflow.get_last_active_trace_id()  # the run that answered has its own trace
    assert answering is not None and answering != trace_id and labels(answering) == []


async def test_an_edit_is_feedback_and_the_edited_arguments_an_expectation(flow):
    run = flow(REFUND_AGENT)
    await in_task(run.start(REFUND))
    [call] = (await run.values())["messages"][-1].tool_calls
    trace_id = raising_trace(await run.values(), call["id"])
    assert "call_model" in span_names(trace_id)  # where the model proposed the call
    edited = {**call["args"], "amount": 10.0}

    edit = {"type": "edit", "edited_action": {"name": "issue_refund", "args": edited}}
    await in_task(run.resume({"decisions": [edit]}, as_user="erin"))  # an admin: the default rule
    assert run.executions() == [edited]
    decision, expectation = sorted(labels(trace_id), key=lambda label: label.name)
    assert (decision.name, decision.value) == ("signoff_decision", "edit")
    assert expectation.name == "signoff_edited_args"
    assert expectation.value == {
        "action": "issue_refund",
        "shown": call["args"],
        "edited": edited,
        "changed": ["amount"],
    }
    assert expectation.source.source_id == decision.source.source_id == "erin@signoff.local"
    assert expectation.metadata == decision.metadata


REJECT = {"type": "reject", "message": "order 17 was refunded already"}
RESPOND = {"type": "respond", "message": "ask for a photo first"}
WITHDRAW = {"type": "withdraw", "message": "the customer found it"}  # the whole request


@pytest.mark.parametrize(
    ("answer", "decision", "person"),
    [
        ({"decisions": [REJECT]}, REJECT, "erin"),
        ({"decisions": [RESPOND]}, RESPOND, "erin"),
        (WITHDRAW, WITHDRAW, "alice"),  # by its requester
    ],
    ids=["reject", "respond", "withdraw"],
)
async def test_a_rejection_a_response_and_a_withdrawal_are_feedback_too(
    flow, answer, decision, person
):
    run = flow(REFUND_AGENT)
    await in_task(run.start(REFUND))
    [call] = (await run.values())["messages"][-1].tool_calls
    trace_id = raising_trace(await run.values(), call["id"])

    await in_task(run.resume(answer, as_user=person))
    assert run.executions() == []
    [label] = labels(trace_id)
    assert (label.value, label.rationale) == (decision["type"], decision["message"])
    assert label.source.source_id == f"{person}@signoff.local"


async def test_each_vote_of_a_quorum_is_a_label_on_the_trace_that_raised_the_request(flow):
    run = flow("approve_reject")
    await in_task(run.start(LARGE))
    trace_id = raising_trace(await run.values())
    await in_task(run.resume("approve", as_user="bob"))
    await in_task(run.resume("approve", as_user="frank"))
    assert len(run.executions()) == 1
    votes = labels(trace_id)
    assert sorted((vote.value, vote.source.source_id) for vote in votes) == [
        ("approve", "bob@signoff.local"),
        ("approve", "frank@signoff.local"),
    ]
    assert len({vote.metadata["signoff.request_id"] for vote in votes}) == 2  # a pause each


async def test_refused_answers_are_not_logged_and_a_decision_is_logged_once(flow):
    """The node runs again for every answer, and again from its checkpoint when it stopped
    before saving what it returned (a crash): the decision is still one label."""
    run = flow("approve_reject")
    await in_task(run.start(PAYMENT))
    trace_id = raising_trace(await run.values())
    paused = run.thread.graph.get_state(run.thread.config).config

    await in_task(run.resume({"decisions": [{"type": "maybe"}]}))  # refused: pauses again
    await in_task(run.resume("approve", as_user="alice"))  # the requester: refused
    assert "alice@signoff.local" in (await run.request())["error"] and labels(trace_id) == []
    approve = {"decisions": [{"type": "approve"}]}
    await in_task(run.resume(approve))
    [label] = labels(trace_id)

    bob = run.thread.as_user(dev_identity("bob"))
    again = {**bob, "configurable": {**bob["configurable"], **paused["configurable"]}}
    rerun = await in_task(run.thread.graph.ainvoke(Command(resume=approve), again))
    assert rerun["audit"][-1]["request_id"] == label.metadata["signoff.request_id"]  # accepted
    assert labels(trace_id) == [label]


async def test_an_expiry_is_nobodys_decision_and_is_not_logged(flow, monkeypatch):
    run = flow("approve_reject")
    await in_task(run.start(PAYMENT, context=RiskPolicy(expire_after_seconds=60)))
    request = await run.request()
    trace_id = raising_trace(await run.values())
    expired = datetime.fromisoformat(request["expires_at"]) + timedelta(seconds=1)
    monkeypatch.setattr(signoff.clock, "now", lambda: expired)
    expire = {"type": "expire", "request_id": request["request_id"]}
    values = await in_task(run.resume(expire, as_user="erin"))
    assert values["status"] == "expired" and labels(trace_id) == []


async def test_with_feedback_off_nothing_is_kept_or_logged(flow, monkeypatch):
    monkeypatch.setenv("SIGNOFF_MLFLOW_FEEDBACK", "off")
    run = flow("approve_reject")
    await in_task(run.start(PAYMENT))
    raised = mlflow.get_last_active_trace_id()  # still traced: MLflow's tracing is on
    assert raised is not None and "trace_id" not in (await run.values())["policy"]
    assert (await in_task(run.resume("approve")))["status"] == "executed"
    assert labels(raised) == []


async def test_a_run_nothing_traces_keeps_no_trace_and_its_decision_runs(flow):
    mlflow.langchain.autolog(disable=True)
    try:
        run = flow("approve_reject")
        await in_task(run.start(PAYMENT))
        assert "trace_id" not in (await run.values())["policy"]
        assert (await in_task(run.resume("approve")))["status"] == "executed"
    finally:
        assert feedback.trace_graph_runs()


async def test_a_bad_switch_is_a_clear_error_and_requests_still_work(flow, monkeypatch, caplog):
    monkeypatch.setenv("SIGNOFF_MLFLOW_FEEDBACK", "1")
    with pytest.raises(ValueError, match="SIGNOFF_MLFLOW_FEEDBACK='1': use `on`"):
        feedback.trace_graph_runs()
    run = flow("approve_reject")
    with caplog.at_level(logging.WARNING, logger="signoff.feedback"):
        await in_task(run.start(PAYMENT))
    assert "Could not read the MLflow trace" in caplog.text
    assert (await in_task(run.resume("approve")))["status"] == "executed"


class HangingMlflow:
    """A tracking server that answers nothing until released, then 503 to everything."""

    def __init__(self) -> None:
        self.called = threading.Event()
        self.released = threading.Event()
        self.answered = threading.Event()
        hanging = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hanging.called.set()
                hanging.released.wait(60)  # the test releases it; this only bounds a failure
                self.send_error(503)
                hanging.answered.set()

            do_POST = do_GET

            def log_message(self, *args: Any) -> None:
                """Quiet."""

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Release what waits, and stop."""
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


async def test_an_mlflow_that_hangs_then_fails_never_holds_up_or_breaks_a_decision(
    flow, monkeypatch, caplog
):
    run = flow("approve_reject")
    await in_task(run.start(PAYMENT))
    trace_id = raising_trace(await run.values())
    mlflow.flush_trace_async_logging()
    hanging = HangingMlflow()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", hanging.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    try:
        with caplog.at_level(logging.WARNING):
            values = await in_task(run.resume("approve"))
            assert hanging.called.wait(60)  # MLflow is being asked, and has not answered
            assert values["status"] == "executed" and not hanging.answered.is_set()
            hanging.released.set()
            feedback.flush()
    finally:
        hanging.close()
    assert f"trace {trace_id}" in caplog.text
    monkeypatch.undo()
    assert labels(trace_id) == []


def test_nothing_loads_mlflow_for_graphs_it_does_not_trace(tmp_path):
    """Feedback on, a request raised and approved: MLflow is never imported (it takes a
    second), in a fresh interpreter."""
    script = """
import sys
from langgraph.types import Command
from signoff.graphs import GRAPHS
from tests.in_process import Thread, approver
thread = Thread(GRAPHS["approve_reject"]())
thread.start({"operation": {"kind": "payment", "amount": 5000, "target": "acct-9"}})
values = thread.graph.invoke(Command(resume="approve"), thread.as_user(approver("review")))
assert values["status"] == "executed", values
assert "mlflow" not in sys.modules, "mlflow was imported"
"""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "SIGNOFF_"))},
        "SIGNOFF_MLFLOW_FEEDBACK": "on",
        "SIGNOFF_LEDGER": str(tmp_path / "ledger.jsonl"),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


MISSING = object()
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)
ARGS = st.dictionaries(st.text(max_size=6), JSON, max_size=4)


@EXAMPLES
@given(
    shown=st.lists(ARGS, min_size=1, max_size=3),
    answers=st.lists(
        st.one_of(
            st.builds(
                lambda kind, message: {"type": kind, "message": message},
                st.sampled_from(["approve", "reject", "respond", "withdraw"]),
                st.text(max_size=10),
            ),
            st.builds(lambda a: {"type": "edit", "args": a}, ARGS),
        ),
        min_size=3,
        max_size=3,
    ),
)
def test_every_decision_is_one_feedback_and_every_edit_one_expectation_of_what_changed(
    shown: list[dict[str, Any]], answers: list[Decision]
):
    actions = [ActionRequest(name=f"tool_{i}", args=args) for i, args in enumerate(shown)]
    request = build_request(
        actions,
        [["approve", "edit", "reject", "respond"]] * len(actions),
        request_id="r-1",
        stage="review",
        requested_by="alice@signoff.local",
        decided_by=["managers"],
        deadlines={"created_at": "2026-01-01T00:00:00.000Z"},
    )
    decisions = answers[: len(actions)]
    made = feedback.decision_labels(
        request, decisions, feedback.Decided("bob@signoff.local", thread_id="t-1", graph="g")
    )
    assert [(label.kind, label.value) for label in made if label.kind == "feedback"] == [
        ("feedback", decision["type"]) for decision in decisions
    ]
    edits = [label.value for label in made if label.kind == "expectation"]
    assert [edit["edited"] for edit in edits] == [d["args"] for d in decisions if "args" in d]
    assert len({label.key for label in made}) == len(made)  # none is mistaken for another
    assert all(isinstance(value, str) for label in made for value in label.metadata.values())
    for edit in edits:  # outside `changed` nothing differs; inside it, everything does
        same = (set(edit["shown"]) | set(edit["edited"])) - set(edit["changed"])
        assert {name: edit["shown"].get(name, MISSING) for name in same} == {
            name: edit["edited"].get(name, MISSING) for name in same
        }
        assert all(
            edit["shown"].get(name, MISSING) != edit["edited"].get(name, MISSING)
            for name in edit["changed"]
        )
