"""One request, every surface: the same 5,000 payment, raised by alice, read and answered by
bob from each place an approver may be, offline, with the same result.

On a LangGraph server with Slack approvals on, one such payment is read from every surface
(Studio's view of the API, `langgraph-sdk`, Agent Inbox's list, signoff's inbox, the CLI,
the Slack notice): each shows the same one-line summary. Then one payment per surface is
approved from it (Studio's resume, the SDK, Agent Inbox's accept, the inbox's button, the
CLI, a Slack click): each runs once, and its audit entry says bob approved it. On a Model
Serving deployment the same payment shows the same summary and is approved through
`custom_inputs` and through an OpenAI Responses `mcp_approval_response`.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.async_api import expect

from signoff.execution.ledger import read_entries
from tests.dev_users import TOKENS
from tests.integration import test_inbox, test_responses_agent, test_slack_approvals
from tests.integration.conftest import Flow
from tests.integration.test_cli import signoff
from tests.integration.test_inbox import open_request
from tests.integration.test_responses_agent import approval, approving, pause_payment, values
from tests.integration.test_slack_approvals import BOB, PAYMENT, SUMMARY, click, notice_of, reply

# The fixtures of the surfaces' own tests: Slack's server, notices and replies; the inbox's
# browser; Model Serving's agent.
server, slack, notices, replies = (
    test_slack_approvals.server,
    test_slack_approvals.slack,
    test_slack_approvals.notices,
    test_slack_approvals.replies,
)
browser, signed_in = test_inbox.browser, test_inbox.signed_in
agent, serving_env, backend_setting = (
    test_responses_agent.agent,
    test_responses_agent.serving_env,
    test_responses_agent.backend_setting,
)
BOB_TOKEN = TOKENS["bob"]


async def pending_payment(flow: Callable[[str], Flow]) -> Flow:
    """alice's 5,000 payment to acct-9, waiting for a manager."""
    run = flow("approve_reject")
    await run.start(PAYMENT)
    return run


async def approved_once(run: Flow) -> None:
    """The payment ran once, approved by bob."""
    values = await run.values()
    assert values["status"] == "executed", values
    [entry] = values["audit"]
    assert (entry["reviewer"], entry["decision"]) == ("bob@signoff.local", "approve")
    assert len(run.executions()) == 1


async def test_one_payment_reads_the_same_and_is_approved_alike_from_every_surface(
    server, flow, signed_in, notices, replies
):
    http = httpx.AsyncClient(base_url=server.url, timeout=60)
    shown = await pending_payment(flow)
    thread = shown.thread_id

    signed = {"Authorization": f"Bearer {BOB_TOKEN}"}
    studio = await http.get(f"/threads/{thread}/state", headers=signed)
    [studio_request] = [i["value"] for i in studio.json()["interrupts"]]
    sdk_request = await shown.request()
    agent_inbox = await http.post(
        "/threads/search",
        headers={"x-api-key": BOB_TOKEN},
        json={"metadata": {"graph_id": "approve_reject"}, "status": "interrupted", "limit": 100},
    )
    [listed] = [t for t in agent_inbox.json() if t["thread_id"] == thread]
    [[agent_inbox_request]] = listed["interrupts"].values()
    page = await signed_in("bob")
    await open_request(page, thread)
    inbox_heading = await page.get_by_role("heading", level=1).inner_text()
    cli = await signoff(server, "bob", "show", thread[:13])
    slack_notice = notice_of(notices, thread)
    assert studio_request["summary"] == sdk_request["summary"] == SUMMARY
    assert agent_inbox_request["value"]["action_requests"][0]["description"].startswith(SUMMARY)
    assert inbox_heading == SUMMARY
    assert cli.stdout.splitlines()[0] == SUMMARY, cli.stdout
    assert slack_notice["text"].startswith(SUMMARY)

    # Studio's form: the resume value typed into it, over the API.
    await http.post(
        f"/threads/{thread}/runs/wait",
        headers=signed,
        json={"assistant_id": "approve_reject", "command": {"resume": [{"type": "approve"}]}},
    )
    await approved_once(shown)

    sdk = await pending_payment(flow)
    await sdk.resume({"type": "approve"}, as_user="bob")
    await approved_once(sdk)

    from_agent_inbox = await pending_payment(flow)
    accepted = await http.post(
        f"/threads/{from_agent_inbox.thread_id}/runs/stream",
        headers={"x-api-key": BOB_TOKEN},
        json={
            "command": {"resume": [{"type": "accept", "args": None}]},
            "stream_mode": "events",
            "assistant_id": "approve_reject",
        },
    )
    assert accepted.status_code == 200
    await approved_once(from_agent_inbox)

    from_inbox = await pending_payment(flow)
    await open_request(page, from_inbox.thread_id)
    await page.get_by_role("button", name="Approve", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text("Request approved.")
    await approved_once(from_inbox)

    from_cli = await pending_payment(flow)
    approved = await signoff(server, "bob", "approve", from_cli.thread_id)
    assert approved.returncode == 0, approved.stderr
    await approved_once(from_cli)

    from_slack = await pending_payment(flow)
    clicked = await click(server, notice_of(notices, from_slack.thread_id), "Approve", BOB, replies)
    assert clicked.status_code == 200
    assert reply(replies)["text"] == f"Approved by bob@signoff.local: {SUMMARY}. Status: executed."
    await approved_once(from_slack)
    await http.aclose()


def test_the_same_payment_on_model_serving_reads_the_same_and_is_approved_both_ways(agent):
    approve_reject = agent("approve_reject")
    for answer in ("custom_inputs", "mcp_approval_response"):
        thread_id, action = pause_payment(approve_reject)
        assert action["summary"] == SUMMARY
        if answer == "custom_inputs":
            approve_reject.resume({"type": "approve"}, thread_id)
        else:
            approve_reject.predict(approving(thread_id, approval(action["request_id"])))
        [entry] = values(approve_reject, thread_id)["audit"]
        assert (entry["reviewer"], entry["decision"]) == ("bob@signoff.local", "approve"), answer
        assert len([e for e in read_entries() if e["thread_id"] == thread_id]) == 1, answer
