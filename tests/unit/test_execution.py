"""Execution in process (`signoff.execution.approved`): nothing runs without a verified approval
of exactly the arguments that run, and an approved operation runs once.

`execute_once` refuses a trail that does not verify and arguments no latest decision approved,
and runs the rest through the ledger once per approved request; `chain_refusal` wants every
stage of a chain, as raised, to have approved these arguments, each a different person;
`approved_not_run` finds what a stopped run left approved; `run_tool_calls` runs sensitive
calls only as their signed decisions say. Property: for any arguments and any edit of the
trail, execution happens exactly when the trail is untouched and its approval is of those
arguments. The example count is `SIGNOFF_PROPERTY_EXAMPLES` (`tests/property_settings.py`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage, ToolCall, ToolMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import BaseTool, tool

from signoff import clock
from signoff.execution import ledger
from signoff.execution.approved import (
    approval_of,
    approved_not_run,
    chain_refusal,
    execute_once,
    run_tool_calls,
    stage_approvals,
)
from signoff.execution.idempotency import idempotency_key
from signoff.governance.audit import (
    AuditEntry,
    auto_approval_entry,
    decision_entries,
    signed,
    state_edit_entry,
    trail_problem,
)
from signoff.protocol.shapes import (
    DECISION_TYPES,
    ActionRequest,
    ApprovalRequest,
    Chain,
    Decision,
    build_request,
)
from tests.property_settings import EXAMPLES

ALICE, BOB, CAROL, DAVE = (f"{name}@signoff.local" for name in ("alice", "bob", "carol", "dave"))
PAYMENT = {"amount": 5000, "target": "acct-9"}
CHAIN = Chain(id="chain-1", stages=["manager", "security"])
REFUND = {"order": 17, "amount": 40}


def new_thread() -> str:
    """A thread id no other test uses."""
    return f"thread-{uuid.uuid4().hex}"


def in_run(work: Callable[[], Any], thread_id: str) -> Any:
    """`work()` inside a runnable whose config names `thread_id`, as a graph node runs."""
    config = {"configurable": {"thread_id": thread_id}}
    return RunnableLambda(lambda _: work()).invoke(None, config)


def executions(thread_id: str) -> list[ledger.LedgerEntry]:
    """What the ledger (the session's own, `tests/unit/conftest.py`) ran for `thread_id`."""
    return [entry for entry in ledger.read_entries() if entry["thread_id"] == thread_id]


def request_for(
    name: str, args: dict[str, Any], *, stage: str = "review", **extra: Any
) -> ApprovalRequest:
    """A request (a new id each time) showing `name` with `args`, raised by alice."""
    return build_request(
        [ActionRequest(name=name, args=args)],
        [list(DECISION_TYPES)],
        request_id=uuid.uuid4().hex,
        stage=stage,
        requested_by=ALICE,
        decided_by=["managers"],
        deadlines={"created_at": clock.stamp()},
        **extra,
    )


def decide(
    thread_id: str,
    trail: list[AuditEntry],
    name: str,
    args: dict[str, Any],
    decision: Decision | None = None,
    reviewer: str = BOB,
    **options: Any,
) -> list[AuditEntry]:
    """`trail` followed by `reviewer`'s signed `decision` (approve by default) on `name` with
    `args` (`options`: the request's `stage`/`chain`, or the entry's `call_id`)."""
    request_options = {key: options.pop(key) for key in ("stage", "chain") if key in options}
    request = request_for(name, args, **request_options)
    answer: Decision = decision or {"type": "approve"}
    entries = in_run(
        lambda: decision_entries(request, [answer], reviewer, trail, **options), thread_id
    )
    return [*trail, *entries]


def run(thread_id: str, kind: str, args: dict[str, Any], trail: list[Any], **kw: Any) -> Any:
    """`execute_once` as the execute node of `thread_id` calls it."""
    return in_run(lambda: execute_once(kind, args, trail, **kw), thread_id)


def forged(trail: list[AuditEntry], position: int, **fields: Any) -> list[dict[str, Any]]:
    """A copy of `trail` whose entry at `position` has `fields` written over it, unsigned."""
    edited = json.loads(json.dumps(trail))
    edited[position].update(fields)
    return edited


# approval_of ------------------------------------------------------------------------------


def test_the_latest_decision_on_the_action_is_the_approval_when_it_approved_these_args():
    thread = new_thread()
    trail = decide(thread, [], "send_payment", PAYMENT)
    assert approval_of(trail, "send_payment", PAYMENT) == trail[-1]
    assert approval_of(trail, "send_payment", {**PAYMENT, "amount": 5001}) is None
    assert approval_of(trail, "send_payment", {"amount": 5000}) is None
    assert approval_of(trail, "deploy", PAYMENT) is None
    assert approval_of([], "send_payment", PAYMENT) is None


def test_a_later_rejection_or_withdrawal_takes_the_approval_back():
    thread = new_thread()
    approved = decide(thread, [], "send_payment", PAYMENT)
    for later in ({"type": "reject"}, {"type": "withdraw"}, {"type": "respond", "message": "x"}):
        trail = decide(thread, approved, "send_payment", PAYMENT, later)
        assert approval_of(trail, "send_payment", PAYMENT) is None


def test_decisions_on_other_actions_leave_the_approval_standing():
    thread = new_thread()
    trail = decide(thread, [], "send_payment", PAYMENT)
    trail = decide(thread, trail, "deploy", {"env": "prod"}, {"type": "reject"})
    assert approval_of(trail, "send_payment", PAYMENT) == trail[0]


def test_an_edit_approves_the_edited_args_only():
    thread = new_thread()
    edited = {**PAYMENT, "amount": 4000}
    trail = decide(thread, [], "send_payment", PAYMENT, {"type": "edit", "args": edited})
    assert approval_of(trail, "send_payment", edited) == trail[0]
    assert approval_of(trail, "send_payment", PAYMENT) is None


def test_an_auto_approval_approves_the_args_as_they_are():
    thread = new_thread()
    entry = in_run(lambda: auto_approval_entry("send_payment", PAYMENT, "low", "r1", []), thread)
    assert approval_of([entry], "send_payment", PAYMENT) == entry


# execute_once -----------------------------------------------------------------------------


def test_an_approved_operation_runs_once_with_the_approved_args():
    thread = new_thread()
    trail = decide(thread, [], "send_payment", PAYMENT)
    result = run(thread, "send_payment", PAYMENT, trail)
    [entry] = executions(thread)
    assert result == {"status": "executed", "result": {"ledger_id": entry["id"], "at": entry["at"]}}
    assert (entry["kind"], entry["details"]) == ("send_payment", PAYMENT)
    key = in_run(lambda: idempotency_key(trail[-1]["request_id"], "send_payment"), thread)
    assert entry["key"] == key


def test_executing_the_same_approval_again_runs_nothing_new():
    thread = new_thread()
    trail = decide(thread, [], "send_payment", PAYMENT)
    first = run(thread, "send_payment", PAYMENT, trail)
    again = run(thread, "send_payment", PAYMENT, trail)
    assert again == first and len(executions(thread)) == 1


def test_a_new_request_approving_the_same_args_runs_again_once():
    thread = new_thread()
    trail = decide(thread, [], "send_payment", PAYMENT)
    run(thread, "send_payment", PAYMENT, trail)
    trail = decide(thread, trail, "send_payment", PAYMENT, reviewer=CAROL)
    run(thread, "send_payment", PAYMENT, trail)
    run(thread, "send_payment", PAYMENT, trail)
    assert len(executions(thread)) == 2


def test_the_status_reported_is_the_one_asked_for():
    thread = new_thread()
    message = {"to": "ops@example.com"}
    trail = decide(thread, [], "send_message", message)
    assert run(thread, "send_message", message, trail, status="sent")["status"] == "sent"


@pytest.mark.parametrize(
    "args",
    [{**PAYMENT, "amount": 50000}, {"amount": 5000}, {**PAYMENT, "memo": "x"}, {}],
    ids=["other amount", "field missing", "field added", "nothing"],
)
def test_args_other_than_the_approved_ones_run_nothing(args):
    thread = new_thread()
    trail = decide(thread, [], "send_payment", PAYMENT)
    assert run(thread, "send_payment", args, trail) == {
        "status": "refused",
        "reason": "no approval of these exact arguments for 'send_payment' is on record",
        "result": None,
    }
    assert executions(thread) == []


def test_an_edited_approval_runs_the_edited_args_and_never_the_shown_ones():
    thread = new_thread()
    edited = {**PAYMENT, "amount": 10}
    trail = decide(thread, [], "send_payment", PAYMENT, {"type": "edit", "args": edited})
    assert run(thread, "send_payment", PAYMENT, trail)["status"] == "refused"
    assert run(thread, "send_payment", edited, trail)["status"] == "executed"
    assert [entry["details"] for entry in executions(thread)] == [edited]


@pytest.mark.parametrize("decision", ["reject", "withdraw", "respond"])
def test_a_decision_that_approves_nothing_runs_nothing(decision):
    thread = new_thread()
    answer: Any = {"type": decision, "message": "no"}
    trail = decide(thread, [], "send_payment", PAYMENT, answer)
    assert run(thread, "send_payment", PAYMENT, trail)["status"] == "refused"
    assert executions(thread) == []


def test_nothing_runs_without_any_decision_or_on_another_actions_approval():
    thread = new_thread()
    assert run(thread, "send_payment", PAYMENT, [])["status"] == "refused"
    trail = decide(thread, [], "refund", PAYMENT)
    assert run(thread, "send_payment", PAYMENT, trail)["status"] == "refused"
    assert executions(thread) == []


def test_a_forged_approval_of_other_args_runs_nothing():
    thread = new_thread()
    trail = decide(thread, [], "send_payment", PAYMENT)
    theft = {"amount": 5000, "target": "acct-666"}
    edited = forged(trail, 0, args_after=theft, args_before=theft)
    result = run(thread, "send_payment", theft, edited)
    assert result["status"] == "refused" and result["result"] is None
    assert result["reason"] == (
        f"the audit trail does not verify (entry 1 (approve by {BOB}) was altered, forged, or "
        "signed for another thread); nothing was executed"
    )
    assert executions(thread) == []


def test_an_unsigned_approval_appended_to_a_genuine_trail_runs_nothing():
    thread = new_thread()
    trail = decide(thread, [], "send_payment", PAYMENT, {"type": "reject"})
    fake = {**forged(trail, 0)[0], "decision": "approve", "args_after": PAYMENT, "signature": ""}
    fake["prev"] = trail[-1]["signature"]
    result = run(thread, "send_payment", PAYMENT, [*trail, fake])
    assert result["status"] == "refused" and "does not verify (entry 2" in result["reason"]
    assert executions(thread) == []


def test_an_approval_signed_for_another_thread_runs_nothing_here():
    elsewhere, here = new_thread(), new_thread()
    trail = decide(elsewhere, [], "send_payment", PAYMENT)
    result = run(here, "send_payment", PAYMENT, trail)
    assert result["status"] == "refused" and "signed for another thread" in result["reason"]
    assert executions(here) == [] and executions(elsewhere) == []


def test_an_approval_after_a_broken_entry_runs_nothing():
    thread = new_thread()
    trail = decide(thread, [], "deploy", {"env": "prod"}, {"type": "reject"})
    trail = decide(thread, trail, "send_payment", PAYMENT)
    result = run(thread, "send_payment", PAYMENT, forged(trail, 0, comment="edited"))
    assert result["status"] == "refused" and "(entry 1 " in result["reason"]
    result = run(thread, "send_payment", PAYMENT, [trail[1]])  # cut from before it
    assert result["status"] == "refused" and "out of order" in result["reason"]
    assert executions(thread) == []


def test_an_approval_that_names_no_request_cannot_be_run_once():
    thread = new_thread()
    draft = state_edit_entry("admin", {}, PAYMENT, None, [], thread)
    approval = {**draft, "action": "send_payment", "decision": "approve", "args_before": PAYMENT}
    trail = signed([approval], [], thread)  # genuinely signed, but for no request
    assert run(thread, "send_payment", PAYMENT, trail) == {
        "status": "refused",
        "reason": "the approval of 'send_payment' names no request, so it cannot be run once",
        "result": None,
    }
    assert executions(thread) == []


def test_an_auto_approval_runs_once():
    thread = new_thread()
    entry = in_run(lambda: auto_approval_entry("send_payment", PAYMENT, "low", "r1", []), thread)
    assert run(thread, "send_payment", PAYMENT, [entry])["status"] == "executed"
    assert run(thread, "send_payment", PAYMENT, [entry])["status"] == "executed"
    assert len(executions(thread)) == 1


@pytest.mark.xfail(
    strict=True,
    reason="approval_of compares arguments with Python equality, under which 1 == 1.0 == True: "
    "an approval of {'amount': 1} runs {'amount': True} (and the ledger records the unapproved "
    "value); stage_approvals and run_tool_calls compare the same way",
)
def test_an_approval_of_a_number_does_not_approve_a_boolean():
    thread = new_thread()
    trail = decide(thread, [], "send_payment", {"amount": 1})
    assert run(thread, "send_payment", {"amount": True}, trail)["status"] == "refused"


# chains -----------------------------------------------------------------------------------


def stage(
    thread: str, trail: list[AuditEntry], name: str, reviewer: str, **kw: Any
) -> list[AuditEntry]:
    """`trail` followed by `reviewer`'s decision at stage `name` of `CHAIN` (as raised)."""
    args, chain, decision = (
        kw.pop("args", PAYMENT),
        kw.pop("chain", CHAIN),
        kw.pop("decision", None),
    )
    return decide(thread, trail, "deploy", args, decision, reviewer, stage=name, chain=chain)


def test_a_chain_whose_every_stage_approved_these_args_by_different_people_may_run():
    thread = new_thread()
    trail = stage(thread, stage(thread, [], "manager", BOB), "security", CAROL)
    assert chain_refusal(trail, CHAIN, "deploy", PAYMENT) is None
    assert stage_approvals(trail, CHAIN, "deploy", PAYMENT) == {
        "manager": trail[0],
        "security": trail[1],
    }
    assert in_run(lambda: trail_problem(trail), thread) is None


def test_a_stage_that_has_not_approved_holds_the_chain_back():
    thread = new_thread()
    trail = stage(thread, [], "manager", BOB)
    assert chain_refusal(trail, CHAIN, "deploy", PAYMENT) == (
        "stages ['security'] have not approved these exact arguments; nothing was executed"
    )
    assert chain_refusal([], CHAIN, "deploy", PAYMENT) == (
        "stages ['manager', 'security'] have not approved these exact arguments; nothing was "
        "executed"
    )


def test_a_stage_that_approved_other_args_must_approve_again():
    thread = new_thread()
    other = {**PAYMENT, "amount": 1}
    trail = stage(thread, stage(thread, [], "manager", BOB, args=other), "security", CAROL)
    assert set(stage_approvals(trail, CHAIN, "deploy", PAYMENT)) == {"security"}
    assert "stages ['manager']" in (chain_refusal(trail, CHAIN, "deploy", PAYMENT) or "")
    trail = stage(thread, trail, "manager", BOB)
    assert chain_refusal(trail, CHAIN, "deploy", PAYMENT) is None


def test_a_stage_whose_latest_decision_rejects_holds_the_chain_back():
    thread = new_thread()
    trail = stage(thread, stage(thread, [], "manager", BOB), "security", CAROL)
    trail = stage(thread, trail, "security", CAROL, decision={"type": "reject"})
    assert set(stage_approvals(trail, CHAIN, "deploy", PAYMENT)) == {"manager"}
    assert "stages ['security']" in (chain_refusal(trail, CHAIN, "deploy", PAYMENT) or "")


def test_an_approval_of_another_action_does_not_count_for_a_stage():
    thread = new_thread()
    trail = stage(thread, [], "manager", BOB)
    trail = decide(thread, trail, "rollback", PAYMENT, stage="security", chain=CHAIN)
    assert set(stage_approvals(trail, CHAIN, "deploy", PAYMENT)) == {"manager"}
    assert chain_refusal(trail, CHAIN, "deploy", PAYMENT) is not None


def test_one_person_deciding_two_stages_runs_nothing():
    thread = new_thread()
    trail = stage(thread, stage(thread, [], "manager", BOB), "security", BOB)
    assert chain_refusal(trail, CHAIN, "deploy", PAYMENT) == (
        f"one person decided two stages ({BOB}: 'manager' and 'security'); nothing was executed"
    )


def test_the_stages_required_are_the_chain_as_raised_not_as_state_says_now():
    thread = new_thread()
    trail = stage(thread, [], "manager", BOB)
    shrunk = Chain(id=CHAIN["id"], stages=["manager"])  # an edit of the state's stages
    assert "stages ['security']" in (chain_refusal(trail, shrunk, "deploy", PAYMENT) or "")


def test_a_stage_decided_under_changed_stages_runs_nothing():
    thread = new_thread()
    trail = stage(thread, [], "manager", BOB)
    shrunk = Chain(id=CHAIN["id"], stages=["manager"])
    trail = stage(thread, trail, "manager", CAROL, chain=shrunk)
    assert chain_refusal(trail, CHAIN, "deploy", PAYMENT) == (
        "the chain's stages changed after it was raised as ['manager', 'security'] (at "
        "['manager']); nothing was executed"
    )


def test_decisions_of_another_chain_do_not_count():
    thread = new_thread()
    other = Chain(id="chain-2", stages=CHAIN["stages"])
    trail = stage(thread, stage(thread, [], "manager", BOB, chain=other), "security", CAROL)
    assert set(stage_approvals(trail, CHAIN, "deploy", PAYMENT)) == {"security"}
    assert set(stage_approvals(trail, other, "deploy", PAYMENT)) == {"manager"}
    assert chain_refusal(trail, CHAIN, "deploy", PAYMENT) is not None


# approved_not_run -------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, [], "state", 7, {}], ids=repr)
def test_malformed_or_empty_state_shows_nothing_approved(values):
    assert approved_not_run(values) == []


def test_a_single_action_approval_with_no_outcome_yet_is_approved_but_not_run():
    thread = new_thread()
    trail = decide(thread, [], "send_payment", PAYMENT)
    assert approved_not_run({"decision": "approve", "audit": trail}) == ["send_payment"]
    assert approved_not_run({"decision": "edit", "audit": trail}) == ["send_payment"]
    assert approved_not_run({"decision": "auto_approve", "audit": trail}) == ["send_payment"]
    assert approved_not_run({"decision": "approve", "status": "executed", "audit": trail}) == []
    assert approved_not_run({"decision": "reject", "audit": trail}) == []
    assert approved_not_run({"decision": None, "audit": trail}) == []


def test_an_approval_with_a_malformed_trail_still_counts_as_left_approved():
    for trail in (None, [], ["junk"], "junk"):
        assert len(approved_not_run({"decision": "approve", "audit": trail})) == 1


def tool_call_message(*calls: tuple[str, str, dict[str, Any]], as_json: bool) -> Any:
    """The model's message making `calls` (id, name, args), as the server's JSON or not."""
    tool_calls = [ToolCall(id=i, name=name, args=args) for i, name, args in calls]
    if as_json:
        return {"type": "ai", "content": "", "tool_calls": tool_calls}
    return AIMessage(content="", tool_calls=tool_calls)


@pytest.mark.parametrize("as_json", [True, False], ids=["server JSON", "messages"])
def test_an_agents_approved_call_without_a_result_is_approved_but_not_run(as_json):
    thread = new_thread()
    trail = decide(thread, [], "issue_refund", REFUND, call_id="c1")
    trail = decide(thread, trail, "issue_refund", REFUND, {"type": "reject"}, call_id="c2")
    message = tool_call_message(
        ("c1", "issue_refund", REFUND), ("c2", "issue_refund", REFUND), as_json=as_json
    )
    question = {"type": "human", "content": "refund"} if as_json else HumanMessage("refund")
    assert approved_not_run({"messages": [question, message], "audit": trail}) == ["issue_refund"]
    result: Any = ToolMessage(content="done", tool_call_id="c1")
    if as_json:
        result = {"type": "tool", "content": "done", "tool_call_id": "c1"}
    assert approved_not_run({"messages": [question, message, result], "audit": trail}) == []
    assert approved_not_run({"messages": [question, message], "audit": "junk"}) == []
    assert approved_not_run({"messages": [], "audit": trail}) == []


def test_only_the_last_message_calls_count():
    thread = new_thread()
    trail = decide(thread, [], "issue_refund", REFUND, call_id="c1")
    message = tool_call_message(("c1", "issue_refund", REFUND), as_json=True)
    later = {"type": "ai", "content": "anything else?", "tool_calls": []}
    assert approved_not_run({"messages": [message, later], "audit": trail}) == []


# run_tool_calls ---------------------------------------------------------------------------


class Desk:
    """Tools that record every call they ran."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, dict[str, Any]]] = []

        @tool
        def issue_refund(order: int, amount: int) -> str:
            """Refund `amount` on `order`."""
            self.ran.append(("issue_refund", {"order": order, "amount": amount}))
            return f"refunded {amount} on order {order}"

        @tool
        def close_account(order: int, amount: int) -> str:
            """Close the account of `order`, paying out `amount`."""
            self.ran.append(("close_account", {"order": order, "amount": amount}))
            return "closed"

        @tool
        def lookup_order(order: int) -> str:
            """Look `order` up."""
            self.ran.append(("lookup_order", {"order": order}))
            return f"order {order}: shipped"

        @tool
        def flaky(order: int) -> str:
            """Fail."""
            raise RuntimeError("workspace unreachable")

        self.tools: dict[str, BaseTool] = {
            t.name: t for t in (issue_refund, close_account, lookup_order, flaky)
        }


SENSITIVE = frozenset({"issue_refund", "close_account", "flaky", "retired_tool"})


def call(call_id: str, name: str = "issue_refund", args: dict[str, Any] | None = None) -> ToolCall:
    """A tool call of the model's."""
    return ToolCall(id=call_id, name=name, args=REFUND if args is None else args)


def reviewed(
    thread: str,
    calls: list[ToolCall],
    decisions: list[Decision | None],
    trail: list[AuditEntry] | None = None,
) -> list[AuditEntry]:
    """The signed decisions on `calls` (`None`: no decision on that call)."""
    trail = list(trail or [])
    for made, decision in zip(calls, decisions, strict=True):
        if decision is not None:
            trail = decide(thread, trail, made["name"], made["args"], decision, call_id=made["id"])
    return trail


def run_calls(thread: str, desk: Desk, calls: list[ToolCall], trail: list[Any]) -> Any:
    """`run_tool_calls` as the agent's `run_tools` node of `thread` calls it."""
    return in_run(lambda: run_tool_calls(calls, SENSITIVE, desk.tools, trail), thread)


def test_a_safe_call_runs_as_it_is_without_any_decision():
    thread, desk = new_thread(), Desk()
    lookup = call("c1", "lookup_order", {"order": 17})
    as_run, [result] = run_calls(thread, desk, [lookup], [])
    assert as_run == [lookup] and desk.ran == [("lookup_order", {"order": 17})]
    assert result.content == "order 17: shipped" and result.tool_call_id == "c1"
    assert result.status == "success"


def test_a_sensitive_call_without_a_signed_decision_runs_nothing():
    thread, desk = new_thread(), Desk()
    as_run, [result] = run_calls(thread, desk, [call("c1")], [])
    assert as_run == [call("c1")] and desk.ran == []
    assert result.status == "error"
    assert result.content == "Refused: no signed decision on these arguments."


def test_an_approved_call_runs_with_the_approved_args():
    thread, desk = new_thread(), Desk()
    trail = reviewed(thread, [call("c1")], [{"type": "approve"}])
    as_run, [result] = run_calls(thread, desk, [call("c1")], trail)
    assert desk.ran == [("issue_refund", REFUND)] and as_run == [call("c1")]
    assert result.content == "refunded 40 on order 17" and result.status == "success"


def test_an_edited_call_runs_with_the_edited_args_and_shows_the_call_as_run():
    thread, desk = new_thread(), Desk()
    edited = {"order": 17, "amount": 10}
    trail = reviewed(thread, [call("c1")], [{"type": "edit", "args": edited}])
    as_run, [result] = run_calls(thread, desk, [call("c1")], trail)
    assert desk.ran == [("issue_refund", edited)]
    assert as_run == [call("c1", args=edited)] and result.content == "refunded 10 on order 17"


@pytest.mark.parametrize(
    ("decision", "says"),
    [
        ({"type": "reject", "message": "too much"}, f"{BOB} rejected this call: too much"),
        ({"type": "reject"}, f"{BOB} rejected this call: no reason given"),
        ({"type": "withdraw", "message": "mistake"}, f"{BOB} withdrew this request: mistake"),
    ],
)
def test_a_rejected_or_withdrawn_call_runs_nothing_and_says_who_and_why(decision, says):
    thread, desk = new_thread(), Desk()
    trail = reviewed(thread, [call("c1")], [decision])
    _, [result] = run_calls(thread, desk, [call("c1")], trail)
    assert desk.ran == [] and result.status == "error" and result.content == says


def test_a_response_is_the_calls_result_and_nothing_runs():
    thread, desk = new_thread(), Desk()
    trail = reviewed(thread, [call("c1")], [{"type": "respond", "message": "ask finance"}])
    _, [result] = run_calls(thread, desk, [call("c1")], trail)
    assert desk.ran == [] and result.content == "ask finance" and result.status == "success"


def test_a_decision_on_other_args_does_not_run_a_call():
    thread, desk = new_thread(), Desk()
    trail = reviewed(thread, [call("c1")], [{"type": "approve"}])
    bigger = call("c1", args={"order": 17, "amount": 4000})
    _, [result] = run_calls(thread, desk, [bigger], trail)
    assert desk.ran == [] and result.content == "Refused: no signed decision on these arguments."


def test_a_decision_is_bound_to_its_call_id():
    thread, desk = new_thread(), Desk()
    trail = reviewed(thread, [call("c1")], [{"type": "approve"}])
    _, [result] = run_calls(thread, desk, [call("c2")], trail)
    assert desk.ran == [] and result.status == "error"


def test_on_a_trail_that_does_not_verify_only_safe_calls_run():
    thread, desk = new_thread(), Desk()
    calls = [call("c1"), call("c2", "lookup_order", {"order": 17})]
    trail = reviewed(thread, calls[:1], [{"type": "approve"}])
    bigger = {"order": 17, "amount": 4000}
    tampered = forged(trail, 0, args_before=bigger, args_after=bigger)
    _, (refused, looked_up) = run_calls(thread, desk, [call("c1", args=bigger), calls[1]], tampered)
    assert desk.ran == [("lookup_order", {"order": 17})]
    assert refused.status == "error"
    assert refused.content.startswith("Refused: the audit trail does not verify (entry 1 ")
    assert looked_up.status == "success"


def test_decisions_signed_for_another_thread_run_nothing():
    elsewhere, here, desk = new_thread(), new_thread(), Desk()
    trail = reviewed(elsewhere, [call("c1")], [{"type": "approve"}])
    _, [result] = run_calls(here, desk, [call("c1")], trail)
    assert desk.ran == [] and "signed for another thread" in result.content


def test_each_call_of_a_turn_runs_as_its_own_decision_says_in_order():
    thread, desk = new_thread(), Desk()
    calls = [
        call("c1"),
        call("c2", args={"order": 18, "amount": 5}),
        call("c3", "lookup_order", {"order": 19}),
        call("c4", args={"order": 20, "amount": 6}),
    ]
    trail = reviewed(thread, calls, [{"type": "approve"}, {"type": "reject"}, None, None])
    as_run, results = run_calls(thread, desk, calls, trail)
    assert as_run == calls and [r.tool_call_id for r in results] == ["c1", "c2", "c3", "c4"]
    assert [r.status for r in results] == ["success", "error", "success", "error"]
    assert desk.ran == [("issue_refund", REFUND), ("lookup_order", {"order": 19})]


def test_parallel_reviews_each_following_the_same_entry_run_as_decided():
    thread, desk = new_thread(), Desk()
    before = decide(thread, [], "send_payment", PAYMENT)
    one = decide(thread, before, "issue_refund", REFUND, call_id="c1")[-1]
    other = {"order": 18, "amount": 5}
    two = decide(thread, before, "issue_refund", other, call_id="c2")[-1]
    trail = [*before, two, one]
    _, results = run_calls(thread, desk, [call("c1"), call("c2", args=other)], trail)
    assert [r.status for r in results] == ["success", "success"]
    assert desk.ran == [("issue_refund", REFUND), ("issue_refund", other)]


def test_a_failing_or_unknown_approved_tool_gives_an_error_result():
    thread, desk = new_thread(), Desk()
    calls = [call("c1", "flaky", {"order": 1}), call("c2", "retired_tool", {"order": 2})]
    trail = reviewed(thread, calls, [{"type": "approve"}, {"type": "approve"}])
    _, (failed, unknown) = run_calls(thread, desk, calls, trail)
    assert failed.status == "error" and "workspace unreachable" in failed.content
    assert unknown.status == "error" and unknown.content.startswith("Unknown tool 'retired_tool'")
    assert "issue_refund" in unknown.content


@pytest.mark.xfail(
    strict=True,
    reason="run_tool_calls matches a decision to a call by call id and arguments only, not by "
    "tool name: if the call's name is changed (e.g. an admin's state edit of the last message) "
    "the approval of one tool runs another with the approved arguments",
)
def test_an_approval_of_one_tool_does_not_run_another_tool_with_the_same_call_id():
    thread, desk = new_thread(), Desk()
    trail = reviewed(thread, [call("c1")], [{"type": "approve"}])
    _, [result] = run_calls(thread, desk, [call("c1", "close_account")], trail)
    assert desk.ran == [] and result.status == "error"


# Property ---------------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=5,
)
ARGS = st.dictionaries(st.text(max_size=5), JSON, max_size=3)
EDITS = (None, "change", "delete field", "drop", "swap", "duplicate")


def canonical(value: Any) -> str:
    """`value` as the signature reads it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@st.composite
def edited_trails(
    draw: st.DrawFn, trail: list[AuditEntry], edit: str | None
) -> list[dict[str, Any]]:
    """`trail` with `edit` made to it: a field changed to another JSON value or removed, an
    entry before the last dropped, two entries swapped, or one repeated."""
    edited = json.loads(json.dumps(trail))
    size = len(edited)
    if edit in ("change", "delete field"):
        entry = edited[draw(st.integers(0, size - 1))]
        field = draw(st.sampled_from(sorted(entry)))
        if edit == "delete field":
            del entry[field]
        else:
            old = canonical(entry[field])
            entry[field] = draw(JSON.filter(lambda new: canonical(new) != old))
    elif edit == "drop":
        del edited[draw(st.integers(0, size - 2))]
    elif edit == "swap":
        first, second = draw(
            st.lists(st.integers(0, size - 1), min_size=2, max_size=2, unique=True)
        )
        edited[first], edited[second] = edited[second], edited[first]
    elif edit == "duplicate":
        edited.insert(draw(st.integers(0, size)), dict(edited[draw(st.integers(0, size - 1))]))
    return edited


@EXAMPLES
@given(
    st.data(),
    ARGS,
    st.none() | st.sampled_from(EDITS[1:]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_execution_happens_iff_the_untouched_trail_approves_exactly_these_args(
    data, approved, edit, asked_as_approved, edited_by_reviewer, more_after
):
    thread = new_thread()
    trail = decide(thread, [], "deploy", {"env": "staging"}, {"type": "reject"})
    if edited_by_reviewer:  # the reviewer edited the shown args into the approved ones
        trail = decide(thread, trail, "send_payment", PAYMENT, {"type": "edit", "args": approved})
    else:
        trail = decide(thread, trail, "send_payment", approved)
    if more_after:
        trail = decide(
            thread, trail, "deploy", {"env": "prod"}, {"type": "respond", "message": "x"}
        )
    args = (
        json.loads(json.dumps(approved))
        if asked_as_approved
        else data.draw(ARGS.filter(lambda other: other != approved))
    )
    if edited_by_reviewer and not asked_as_approved and data.draw(st.booleans()):
        args = PAYMENT  # the args shown, not the ones approved
    edited = data.draw(edited_trails(trail, edit))

    result = run(thread, "send_payment", args, edited)

    expected = edit is None and args == approved
    assert (result["status"] == "executed") == expected
    assert expected == (
        in_run(lambda: trail_problem(edited), thread) is None
        and approval_of(edited, "send_payment", args) is not None
    )
    ran = executions(thread)
    assert [entry["details"] for entry in ran] == ([approved] if expected else [])
    if expected:  # and once only
        assert run(thread, "send_payment", args, edited) == result
        assert len(executions(thread)) == 1
    else:
        assert result["status"] == "refused" and result["result"] is None
