"""edit_state through the real server: approve, validated edit with an audited diff, reject,
and direct `update_state` edits while paused."""

from __future__ import annotations

BRIEF = {"brief": {"to": ["ops@example.com"], "topic": "the Friday outage", "details": "Fixed."}}


def edited(**args):
    """A langchain edit decision for send_message."""
    return {
        "decisions": [{"type": "edit", "edited_action": {"name": "send_message", "args": args}}]
    }


async def test_draft_pauses_showing_the_draft(flow):
    run = flow("edit_state")
    await run.start(BRIEF)
    assert await run.status() == "interrupted"
    request = await run.request()
    draft = request["action_requests"][0]["args"]
    assert draft["to"] == ["ops@example.com"]
    assert draft["subject"] == "The friday outage"
    assert "We are writing about the Friday outage." in draft["body"]
    assert request["review_configs"][0]["allowed_decisions"] == ["approve", "edit", "reject"]
    assert run.executions() == []


async def test_approve_sends_the_draft_as_is(flow):
    run = flow("edit_state")
    await run.start(BRIEF)
    draft = (await run.request())["action_requests"][0]["args"]
    result = await run.resume("approve")
    assert result["status"] == "sent" and result["final"] == draft
    [sent] = run.executions()
    assert sent["details"] == draft
    assert await run.status() == "idle"


async def test_edit_is_validated_sent_and_its_diff_audited(flow):
    run = flow("edit_state")
    await run.start(BRIEF)
    draft = (await run.request())["action_requests"][0]["args"]
    new_body = draft["body"].replace("Fixed.", "Fixed at 14:05 UTC; no data was lost.")
    result = await run.resume(edited(**{**draft, "body": new_body}))
    assert result["status"] == "sent" and result["decision"] == "edit"
    assert run.executions()[0]["details"]["body"] == new_body
    [entry] = result["audit"]
    assert entry["args_before"] == draft and entry["args_after"]["body"] == new_body
    assert list(entry["changes"]) == ["body"]
    assert "-Fixed.\n+Fixed at 14:05 UTC; no data was lost." in entry["changes"]["body"]["diff"]


async def test_invalid_edit_repauses_then_a_valid_one_sends(flow):
    run = flow("edit_state")
    await run.start(BRIEF)
    draft = (await run.request())["action_requests"][0]["args"]
    await run.resume(edited(**{**draft, "to": ["not-an-address"], "body": "Hi {{name}}"}))
    request = await run.request()
    assert await run.status() == "interrupted"
    assert "not email addresses: not-an-address" in request["error"]
    assert "unfilled {{placeholder}}" in request["error"]
    assert run.executions() == []
    result = await run.resume(edited(**{**draft, "to": ["team@example.com"]}))
    assert result["status"] == "sent"
    assert [e["details"]["to"] for e in run.executions()] == [["team@example.com"]]


async def test_reject_sends_nothing(flow):
    run = flow("edit_state")
    await run.start(BRIEF)
    result = await run.resume({"decisions": [{"type": "reject", "message": "wrong audience"}]})
    assert result["status"] == "rejected" and result["reason"] == "wrong audience"
    assert run.executions() == []


async def test_update_state_while_paused_is_honoured_and_audited(flow, admin):
    run = flow("edit_state")
    await run.start(BRIEF)
    draft = (await run.request())["action_requests"][0]["args"]
    changed = {**draft, "subject": "Resolved: Friday outage"}
    await admin.threads.update_state(run.thread_id, {"draft": changed})
    await run.resume("approve")  # a blind approval of a draft this answer never saw
    shown = await run.request()
    assert shown["action_requests"][0]["args"] == changed
    assert "changed after they were first shown" in shown["error"]
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
