"""Agent Inbox's own answers, on every graph, through the real server.

What Agent Inbox reads and sends was checked against its code (langchain-ai/agent-inbox,
`src/components/agent-inbox/contexts/utils.ts`, `hooks/use-interrupted-actions.tsx`,
`components/inbox-item-input.tsx`), not its README:

- it reads `thread.interrupts`, the first interrupt's `value`; a value with `action_requests`
  goes through its HITL adapter, which shows `action_requests[0].name` and `.arguments`, and
  turns `allowed_decisions` into flags: approve → accept, edit → edit, reject → respond;
- it resumes with a one-element list: `accept` (with `args: null`, or the unedited
  `{action, args}` when edit is allowed too), `edit` with `{action, args}` where every edited
  field comes back as text, `response` with the text, `ignore` with `args: null`.

`inbox_view` reads a request as that adapter does; the answers below are built from it.
"""

from __future__ import annotations

import json
from typing import Any

DRAFT = {"brief": {"to": ["ops@example.com"], "topic": "the outage"}}
PAYMENT = {"operation": {"amount": 5000, "target": "acct-9"}}
ACTION = {"action": {"name": "rotate_keys", "args": {"scope": "prod"}}}


# Order 22 (1,200.00) has room for these refunds however many other tests refund order 17.
def user(text: str) -> dict[str, Any]:
    """Graph input carrying one user message."""
    return {"messages": [{"role": "user", "content": text}]}


def inbox_view(request: dict[str, Any]) -> dict[str, Any]:
    """What Agent Inbox's HITL adapter makes of a request: the first action, and its flags."""
    action = request["action_requests"][0]
    allowed = request["review_configs"][0]["allowed_decisions"]
    return {
        "action_request": {"action": action["name"], "args": action.get("arguments") or {}},
        "config": {
            "allow_accept": "approve" in allowed,
            "allow_edit": "edit" in allowed,
            "allow_respond": "reject" in allowed,
        },
        "description": action.get("description"),
    }


def accept(view: dict[str, Any]) -> list[dict[str, Any]]:
    """Agent Inbox's accept: the unedited action when edit is allowed too, else null."""
    both = view["config"]["allow_edit"] and view["config"]["allow_accept"]
    return [{"type": "accept", "args": view["action_request"] if both else None}]


def edit(view: dict[str, Any], **fields: Any) -> list[dict[str, Any]]:
    """Agent Inbox's edit: edited fields come back as text (objects as JSON text)."""
    as_text = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
    args = {**view["action_request"]["args"], **as_text}
    return [{"type": "edit", "args": {"action": view["action_request"]["action"], "args": args}}]


def response(text: str) -> list[dict[str, Any]]:
    """Agent Inbox's response."""
    return [{"type": "response", "args": text}]


IGNORE = [{"type": "ignore", "args": None}]


async def view_of(run) -> dict[str, Any]:
    """The pending request as Agent Inbox renders it: the arguments shown, each as something
    its form renders (it shows text and JSON of lists and objects, and a number as nothing),
    and its summary first in the description its list previews."""
    request = await run.request()
    view = inbox_view(request)
    shown, args = view["action_request"]["args"], request["action_requests"][0]["args"]
    assert shown, "Agent Inbox would show no arguments"
    assert shown.keys() == args.keys()
    for key, value in shown.items():
        number = isinstance(args[key], int | float) and not isinstance(args[key], bool)
        assert value == (str(args[key]) if number else args[key]), (key, value)
    assert view["description"].startswith(request["summary"])
    return view


async def test_approve_reject_accept_response_ignore(flow):
    accepted = flow("approve_reject")
    await accepted.start(PAYMENT)
    view = await view_of(accepted)
    assert view["config"] == {"allow_accept": True, "allow_edit": False, "allow_respond": True}
    assert (await accepted.resume(accept(view)))["status"] == "executed"
    assert len(accepted.executions()) == 1

    responded = flow("approve_reject")
    await responded.start(PAYMENT)
    await view_of(responded)
    result = await responded.resume(response("too risky this week"))
    assert (result["status"], result["reason"]) == ("rejected", "too risky this week")
    assert result["audit"][-1]["comment"] == "too risky this week"

    ignored = flow("approve_reject")
    await ignored.start(PAYMENT)
    assert (await ignored.resume(IGNORE))["status"] == "rejected"
    assert responded.executions() == ignored.executions() == []


async def test_edit_state_accept_edit_and_response(flow):
    accepted = flow("edit_state")
    await accepted.start(DRAFT)
    view = await view_of(accepted)
    assert (await accepted.resume(accept(view)))["status"] == "sent"

    edited = flow("edit_state")
    await edited.start(DRAFT)
    view = await view_of(edited)
    answer = edit(view, to=["lead@example.com"], subject="Outage follow-up")
    assert answer[0]["args"]["args"]["to"] == '["lead@example.com"]'  # text, as Agent Inbox sends
    result = await edited.resume(answer)
    assert result["status"] == "sent"
    assert result["final"]["to"] == ["lead@example.com"]
    assert result["final"]["subject"] == "Outage follow-up"
    assert result["audit"][-1]["changes"]["to"]["after"] == ["lead@example.com"]

    responded = flow("edit_state")
    await responded.start(DRAFT)
    result = await responded.resume(response("wrong tone"))
    assert (result["status"], result["reason"]) == ("rejected", "wrong tone")
    assert len(accepted.executions()) == len(edited.executions()) == 1
    assert responded.executions() == []


async def test_an_accept_that_carries_other_arguments_approves_nothing(flow):
    run = flow("edit_state")
    await run.start(DRAFT)
    view = await view_of(run)
    forged = {**view["action_request"], "args": {**view["action_request"]["args"], "to": []}}
    await run.resume([{"type": "accept", "args": forged}])
    assert "carries arguments other than those shown" in (await run.request())["error"]
    assert run.executions() == []
    assert (await run.resume(accept(view)))["status"] == "sent"


async def test_multi_stage_accept_each_stage_and_response_rejects(flow):
    approved = flow("multi_stage_approval")
    await approved.start(ACTION)
    for stage in ("manager", "security"):
        view = await view_of(approved)
        assert (await approved.request())["stage"] == stage
        result = await approved.resume(accept(view))
    assert result["status"] == "executed" and len(approved.executions()) == 1

    stopped = flow("multi_stage_approval")
    await stopped.start(ACTION)
    await stopped.resume(accept(await view_of(stopped)))
    result = await stopped.resume(response("no change freeze exemption"))
    assert (result["status"], result["rejected_at"]) == ("rejected", "security")
    assert stopped.executions() == []


async def test_review_tool_calls_accept_edit_and_response(flow):
    accepted = flow("review_tool_calls")
    await accepted.start(user(f"refund 25 on order 22 because damaged {accepted.tag}"))
    await accepted.resume(accept(await view_of(accepted)))
    [refund] = accepted.refunds()
    assert refund["amount"] == 25.0

    edited = flow("review_tool_calls")
    await edited.start(user(f"refund 25 on order 22 because damaged {edited.tag}"))
    view = await view_of(edited)
    await edited.resume(edit(view, amount=10))  # sent as the text "10"
    [refund] = edited.refunds()
    assert refund["amount"] == 10.0

    responded = flow("review_tool_calls")
    await responded.start(user(f"refund 25 on order 22 because damaged {responded.tag}"))
    await view_of(responded)
    result = await responded.resume(response("Refunds over 20 go to the support lead."))
    [tool_message] = [m for m in result["messages"] if m["type"] == "tool"]
    assert tool_message["content"] == "Refunds over 20 go to the support lead."
    assert responded.refunds() == []
    assert await responded.status() == "idle"


async def test_databricks_workflow_accept_and_ignore(flow):
    accepted = flow("databricks_workflow")
    await accepted.start(user(f"start the nightly job for {accepted.tag}"))
    result = await accepted.resume(accept(await view_of(accepted)))
    assert len(accepted.job_runs()) == 1 and result["job_runs"]

    ignored = flow("databricks_workflow")
    await ignored.start(user(f"start the nightly job for {ignored.tag}"))
    await view_of(ignored)
    await ignored.resume(IGNORE)
    assert ignored.job_runs() == []
    assert await ignored.status() == "idle"
