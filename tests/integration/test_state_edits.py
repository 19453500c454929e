"""edit_state through the real server's state API: an admin's `update_state` edit while
paused is honoured, validated and audited, and never approved blind."""

from __future__ import annotations

import httpx
import pytest

BRIEF = {"brief": {"to": ["ops@example.com"], "topic": "the Friday outage", "details": "Fixed."}}


def edited(**args):
    """A langchain edit decision for send_message."""
    return {
        "decisions": [{"type": "edit", "edited_action": {"name": "send_message", "args": args}}]
    }


async def test_update_state_while_paused_is_honoured_and_audited(flow, admin):
    run = flow("edit_state")
    await run.start(BRIEF)
    draft = (await run.request())["action_requests"][0]["args"]
    changed = {**draft, "subject": "Resolved: Friday outage"}
    await admin.threads.update_state(run.thread_id, {"draft": changed})
    blind = run.resume("approve")  # an approval of a draft this answer never saw
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await blind
    assert refused.value.response.status_code == 409  # no request is pending until shown again
    await run.client.runs.wait(run.thread_id, "edit_state", input=None)
    shown = await run.request()
    assert shown["action_requests"][0]["args"] == changed
    await run.resume("approve")  # still blind: it names no request
    assert "changed after they were first shown" in (await run.request())["error"]
    assert run.executions() == []
    result = await run.resume(
        {"decisions": [{"type": "approve"}], "request_id": shown["request_id"]}
    )
    assert result["status"] == "sent" and result["final"] == changed
    assert run.executions()[0]["details"]["subject"] == "Resolved: Friday outage"
    state_edit, approval = result["audit"]
    assert state_edit["decision"] == "state_edit"
    assert state_edit["reviewer"] == "erin@signoff.local"
    assert state_edit["changes"]["draft"] == {"before": draft, "after": changed}
    assert approval["decision"] == "approve" and approval["args_before"] == changed
    assert approval["reviewer"] == "bob@signoff.local"


async def test_invalid_state_edit_cannot_be_approved(flow, client, admin):
    run = flow("edit_state")
    await run.start(BRIEF)
    draft = (await run.request())["action_requests"][0]["args"]
    await admin.threads.update_state(run.thread_id, {"draft": {**draft, "to": []}})
    await client.runs.wait(run.thread_id, "edit_state", input=None)
    request = await run.request()
    assert request["review_configs"][0]["allowed_decisions"] == ["edit", "reject"]
    assert "not sendable" in request["action_requests"][0]["description"]
    reference = {"request_id": request["request_id"]}
    await run.resume({"decisions": [{"type": "approve"}], **reference})
    assert "'approve' is not allowed" in (await run.request())["error"]
    result = await run.resume({**edited(**{**draft, "to": ["fixed@example.com"]}), **reference})
    assert result["status"] == "sent"
    assert len(run.executions()) == 1
