"""No answer can wedge a thread: property-based tests of every review node, in-process.

Hypothesis sends arbitrary JSON values and text (deep nesting, huge strings, near-miss
decisions, Agent Inbox shapes) to a pending request of each graph. After each answer the
thread is either still interrupted with the same `request_id` and an `error`, or it moved on
exactly as the protocol's own reading of that answer says; it never raises. A correct answer
then completes it, with exactly one execution when it approves.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signoff.execution.ledger import read_entries
from signoff.graphs.approve_reject import graph as approve_reject
from signoff.graphs.edit_state import graph as edit_state
from signoff.graphs.edit_state import validate_draft
from signoff.graphs.multi_stage_approval import graph as multi_stage_approval
from signoff.protocol.parsing import InvalidAnswer, parse_answer
from tests.in_process import RefundDesk, ScriptedModel, Thread, reviewed_refund_agent
from tests.property_settings import EXAMPLES

LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)  # what a checkpoint (and the server's JSON) can hold
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
JSON = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=24,
)
TYPES = st.sampled_from(
    ["approve", "accept", "edit", "reject", "ignore", "respond", "response", "maybe", ""]
)
DECISION = st.fixed_dictionaries(
    {"type": TYPES},
    optional={
        "message": JSON,
        "args": JSON
        | st.fixed_dictionaries({"action": JSON, "args": st.dictionaries(st.text(), JSON)}),
        "edited_action": JSON
        | st.fixed_dictionaries({"name": JSON, "args": st.dictionaries(st.text(), JSON)}),
    },
)
DECISIONS = (
    DECISION
    | st.lists(DECISION, max_size=3)
    | st.fixed_dictionaries(
        {"decisions": st.lists(DECISION, max_size=3) | JSON},
        optional={"request_id": JSON, "args_digest": JSON},
    )
)


def nested(depth: int, leaf: Any = "approve") -> Any:
    """`leaf` inside `depth` alternating lists and objects."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"decisions": value}
    return value


# Deep objects stop at 250 levels: langgraph's checkpoint serializer cannot store a resume
# value nested past 255, so it refuses one before any node runs (the thread stays pending).
DEEP = st.integers(1, 250).map(nested)
DEEP_TEXT = st.integers(1, 6000).flatmap(
    lambda n: st.sampled_from(
        ["[" * n, '{"a":' * n, "[" * n + "]" * n, '{"decisions":[' * n + '"approve"' + "]}" * n]
    )
)
HUGE_TEXT = st.integers(60_000, 200_000).flatmap(
    lambda n: st.sampled_from(["x" * n, json.dumps({"decisions": [{"type": "reject"}] * n})])
)
# Two top-level values are not answers to langgraph: None is no resume at all, and `{}` is an
# empty resume map (by interrupt id) that resumes nothing. Inside an answer both are fine.
ANSWERS = (
    JSON.filter(lambda value: value is not None and value != {})
    | DECISIONS
    | DECISIONS.map(json.dumps)
    | JSON.map(json.dumps)
    | st.text()
    | DEEP
    | DEEP_TEXT
    | HUGE_TEXT
)


@pytest.fixture(scope="module", autouse=True)
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A ledger file of this module's own for the graphs that execute into one."""
    path = tmp_path_factory.mktemp("ledger") / "ledger.jsonl"
    previous = os.environ.get("SIGNOFF_LEDGER")
    os.environ["SIGNOFF_LEDGER"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("SIGNOFF_LEDGER")
    else:
        os.environ["SIGNOFF_LEDGER"] = previous


@dataclass
class Subject:
    """One graph under test: how to start it, read answers as it does, and count effects."""

    start: Callable[[], Thread]
    validate: Callable[[str, dict[str, Any]], dict[str, Any]] | None
    executions: Callable[[Thread], int]
    done_status: dict[str, str | None]
    """Decision type → the `status` the thread ends with (None: the agents have none)."""


def ledger_executions(thread: Thread) -> int:
    """Ledger entries the thread caused."""
    return sum(entry["thread_id"] == thread.thread_id for entry in read_entries())


def started(graph: Any, payload: dict[str, Any]) -> Callable[[], Thread]:
    """A starter: a new thread of `graph`, run on `payload` to its first pause."""

    def start() -> Thread:
        thread = Thread(graph)
        thread.start(payload)
        return thread

    return start


def refund_subject(calls: int = 1) -> Subject:
    """The agents' reviewed tool loop, with its own refund desk; `calls` > 1 sends each call
    to a review node of its own, all pending at once."""
    desk = RefundDesk()
    agent = reviewed_refund_agent(desk, model=ScriptedModel(calls=calls))
    schema = desk.tool().tool_call_schema

    def start() -> Thread:
        thread = Thread(agent)
        thread.start({"messages": [{"role": "user", "content": "refund order 17"}]})
        thread.refunds_before = len(desk.executed)  # type: ignore[attr-defined]
        return thread

    return Subject(
        start=start,
        validate=lambda _name, args: schema.model_validate(args).model_dump(),
        executions=lambda thread: len(desk.executed) - thread.refunds_before,  # type: ignore[attr-defined]
        done_status={"approve": None, "edit": None, "reject": None, "respond": None},
    )


SUBJECTS: dict[str, Callable[[], Subject]] = {
    "approve_reject": lambda: Subject(
        start=started(approve_reject, {"operation": {"amount": 5000, "target": "acct-9"}}),
        validate=None,
        executions=ledger_executions,
        done_status={"approve": "executed", "reject": "rejected"},
    ),
    "edit_state": lambda: Subject(
        start=started(edit_state, {"brief": {"to": ["ops@example.com"], "topic": "the outage"}}),
        validate=validate_draft,
        executions=ledger_executions,
        done_status={"approve": "sent", "edit": "sent", "reject": "rejected"},
    ),
    "multi_stage_approval": lambda: Subject(
        start=started(multi_stage_approval, {"action": {"name": "rotate_keys"}}),
        validate=None,
        executions=ledger_executions,
        done_status={"reject": "rejected"},  # an approval moves on to the next stage
    ),
    "reviewed_agent": refund_subject,
}


@EXAMPLES
@given(answer=ANSWERS)
def test_no_answer_wedges_one_of_several_parallel_reviews(answer: Any) -> None:
    subject = PARALLEL
    thread = subject.start()
    first, second = thread.pending()
    try:
        expected = parse_answer(answer, first, subject.validate)[0]["type"]
    except InvalidAnswer:
        expected = None
    thread.answer_first(answer)  # must not raise, whatever the answer
    still = {request["request_id"]: request for request in thread.pending()}
    assert second["request_id"] in still  # the other call keeps waiting, untouched
    assert (first["request_id"] in still) == (expected is None)
    if expected is None:
        assert still[first["request_id"]]["error"]
    assert subject.executions(thread) == 0  # nothing runs before every review is in
    thread.answer_each({"decisions": [{"type": "approve"}]})
    assert not thread.pending()
    first_runs = expected is None or expected in ("approve", "edit")  # refused: approved now
    assert subject.executions(thread) == 1 + first_runs


PARALLEL = refund_subject(calls=2)


@pytest.mark.parametrize("name", sorted(SUBJECTS))
def test_no_answer_wedges_a_review_node(name: str) -> None:
    subject = SUBJECTS[name]()

    @EXAMPLES
    @given(answer=ANSWERS)
    def check(answer: Any) -> None:
        thread = subject.start()
        request = thread.request()
        try:
            expected = parse_answer(answer, request, subject.validate)[0]["type"]
        except InvalidAnswer:
            expected = None
        thread.answer(answer)  # must not raise, whatever the answer
        pending = thread.pending()
        if expected is None:
            [again] = pending
            assert again["request_id"] == request["request_id"]
            assert again["action_requests"] == request["action_requests"]
            assert again["error"] and len(again["error"]) < 2000
            assert subject.executions(thread) == 0
        elif pending:  # a multi-stage approval: the next stage asks
            assert expected == "approve" and pending[0]["stage"] != request["stage"]
            assert pending[0]["request_id"] != request["request_id"]
        else:
            assert thread.values().get("status") == subject.done_status[expected]
            assert subject.executions(thread) == (1 if expected in ("approve", "edit") else 0)
            return
        while thread.pending():  # a correct answer completes it, with one execution
            thread.answer({"decisions": [{"type": "approve"}]})
        assert subject.executions(thread) == 1

    check()


def test_the_deepest_storable_object_is_refused_by_bounds_not_by_recursion() -> None:
    thread = SUBJECTS["approve_reject"]().start()
    request = thread.request()
    thread.answer(nested(250))
    [again] = thread.pending()
    assert again["request_id"] == request["request_id"]
    assert "nested deeper than 32 levels" in again["error"]
    assert thread.answer("approve")["status"] == "executed"


def test_a_huge_answer_is_refused_with_the_limit() -> None:
    thread = SUBJECTS["approve_reject"]().start()
    thread.answer("no " * 40_000)
    [again] = thread.pending()
    assert "larger than 65,536 bytes" in again["error"]
    assert thread.answer({"decisions": [{"type": "approve"}]})["status"] == "executed"
