"""edit_state in process: approve, validated edit with an audited diff, reject, bad briefs.
Direct `update_state` edits go through the server's state API (`integration/test_state_edits`)."""

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


async def test_an_invalid_brief_ends_plainly_without_asking(flow):
    run = flow("edit_state")
    result = await run.start({"brief": {"to": [], "topic": ""}})
    assert result["status"] == "invalid" and "to" in result["reason"]
    assert await run.status() == "idle" and run.executions() == []
