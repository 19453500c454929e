"""Approving from Slack, through the real server: a request's Slack notice carries Approve and
Reject buttons, and a click, signed as Slack signs it, is answered as the person who clicked.

The server posts its notices to a local stand-in for Slack's incoming webhook, asks a local
Slack Web API (`tests.slack_fake`) who clicked, finds that person in the emulator's workspace
by email, and replies to the click's `response_url` (another local receiver). Every click
below is made on a button of the notice the server really posted.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from databricks.sdk.errors import InvalidParameterValue

from signoff.server.acting import ACTING_SECONDS, acting_token
from signoff.server.slack import PATH
from signoff.signals.webhooks import slack_button_value
from tests.dev_users import TOKENS
from tests.integration.conftest import Flow
from tests.langgraph_server import LanggraphServer, copy_project
from tests.slack_fake import FakeSlack, block_actions, signed_callback, slack_user
from tests.webhook_receiver import ReceivedRequest, WebhookReceiver

SECRET = "slack-signing-secret-for-tests"
BOT_TOKEN = "xoxb-signoff-tests"
AUDIT_KEY = "audit-key-of-the-slack-tests"
PAYMENT = {"operation": {"kind": "payment", "amount": 5000, "target": "acct-9"}}
SUMMARY = "payment of 5,000 USD to acct-9"
BOB, CAROL, MALLORY, NOBODY = "U0BOB", "U0CAROL", "U0MALLORY", "U0NOBODY"
"""Slack users: bob and carol of the workspace (carol is in security, not managers), mallory
whose email the workspace does not know, and a user id Slack does not know."""


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    """Slack's Web API, knowing bob, carol and mallory."""
    users = [
        slack_user(BOB, "bob@signoff.local"),
        slack_user(CAROL, "Carol@Signoff.local"),
        slack_user(MALLORY, "mallory@elsewhere.example"),
    ]
    with FakeSlack(BOT_TOKEN, users) as running:
        yield running


@pytest.fixture(scope="module")
def notices() -> Iterator[WebhookReceiver]:
    """Slack's incoming webhook: every notice the server posts."""
    with WebhookReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory, emulator, slack, notices) -> Iterator[LanggraphServer]:
    """A server with Slack approvals on, posting Slack notices to `notices`."""
    running = LanggraphServer(
        copy_project(tmp_path_factory.mktemp("slack")),
        env={
            "DATABRICKS_HOST": emulator.url,
            "DATABRICKS_TOKEN": emulator.token,
            "SIGNOFF_AUDIT_KEY": AUDIT_KEY,
            "SIGNOFF_WEBHOOK_URL": notices.url,
            "SIGNOFF_WEBHOOK_FORMAT": "slack",
            "SIGNOFF_SLACK_SIGNING_SECRET": SECRET,
            "SIGNOFF_SLACK_BOT_TOKEN": BOT_TOKEN,
            "SIGNOFF_SLACK_API_URL": slack.api_url,
        },
    ).start()
    yield running
    running.stop()


@pytest.fixture
def replies() -> Iterator[WebhookReceiver]:
    """The `response_url` of this test's clicks."""
    with WebhookReceiver() as running:
        yield running


@pytest.fixture
async def waiting(flow) -> Flow:
    """A payment of 5,000 raised by alice, waiting for a manager."""
    run = flow("approve_reject")
    await run.start(PAYMENT)
    return run


@pytest.fixture
def server_key(monkeypatch) -> None:
    """This process holds the server's Slack signing secret, so it makes acting tokens and
    button values as the server does."""
    monkeypatch.setenv("SIGNOFF_SLACK_SIGNING_SECRET", SECRET)


def notice_of(notices: WebhookReceiver, thread_id: str) -> dict[str, Any]:
    """The Slack message announcing the request of `thread_id`, once the server posted it."""

    def announces(request: ReceivedRequest) -> bool:
        return any(thread_id in button["value"] for button in buttons_of(json.loads(request.body)))

    return json.loads(notices.wait_until(announces).body)


def buttons_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The buttons of a Slack message's actions blocks."""
    return [
        element
        for block in message.get("blocks") or []
        if block["type"] == "actions"
        for element in block["elements"]
        if element["type"] == "button"
    ]


async def click(
    server: LanggraphServer,
    message: dict[str, Any],
    label: str,
    user: str,
    replies: WebhookReceiver,
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
) -> httpx.Response:
    """Post the callback Slack sends when Slack user `user` clicks the button `label` of
    `message`, signed with `secret` at `timestamp` (default: now)."""
    [button] = [b for b in buttons_of(message) if b["text"]["text"] == label]
    payload = block_actions(button, user, replies.url, message=message)
    body, headers = signed_callback(payload, secret, timestamp)
    async with httpx.AsyncClient(base_url=server.url) as http:
        return await http.post(PATH, content=body, headers=headers)


def reply(replies: WebhookReceiver, count: int = 1) -> dict[str, Any]:
    """The `count`th reply to this test's clicks, once it came."""
    return json.loads(replies.wait_for(count)[count - 1].body)


async def unchanged(run: Flow, request: dict[str, Any]) -> None:
    """The request is still the one waiting, nothing was decided and nothing ran."""
    assert await run.status() == "interrupted"
    assert (await run.request())["request_id"] == request["request_id"]
    assert (await run.values())["audit"] == []
    assert run.executions() == []


def test_the_workspace_finds_a_person_by_email_ignoring_case(workspace):
    [bob] = workspace.users.list(filter='userName eq "Bob@Signoff.local"')
    assert bob.user_name == "bob@signoff.local"
    assert {group.display for group in bob.groups or []} == {"users", "managers", "support-leads"}
    assert list(workspace.users.list(filter='userName eq "mallory@elsewhere.example"')) == []
    with pytest.raises(InvalidParameterValue, match="reads only userName eq"):
        list(workspace.users.list(filter='displayName co "Bob"'))


async def test_the_notice_carries_the_summary_and_the_buttons_of_its_request(waiting, notices):
    request = await waiting.request()
    message = notice_of(notices, waiting.thread_id)
    assert message["text"].startswith(SUMMARY)
    assert message["blocks"][0]["text"]["text"] == SUMMARY  # the header
    section = message["blocks"][1]
    assert "May decide: managers" in [field["text"] for field in section["fields"]]
    ids = {
        "thread_id": waiting.thread_id,
        "request_id": request["request_id"],
        "args_digest": request["args_digest"],
    }
    buttons = [(b["text"]["text"], json.loads(b["value"])) for b in buttons_of(message)]
    assert [label for label, _ in buttons] == ["Approve", "Reject"]
    for _, value in buttons:
        assert {k: value[k] for k in ids} == ids and len(value["sig"]) == 64
    assert "Arguments: " in json.dumps(message) and "acct-9" in json.dumps(section["fields"])
    assert f"/inbox/{waiting.thread_id}?request_id={request['request_id']}" in json.dumps(message)


def with_button_value(message: dict[str, Any], value: str) -> dict[str, Any]:
    """`message` with every button's value replaced by `value` (a notice someone else made)."""
    copied = json.loads(json.dumps(message))
    for button in buttons_of(copied):
        button["value"] = value
    return copied


async def test_a_button_signoff_did_not_make_or_made_for_other_arguments_answers_nothing(
    server, waiting, notices, replies, server_key
):
    request = await waiting.request()
    message = notice_of(notices, waiting.thread_id)
    value = json.loads(buttons_of(message)[0]["value"])
    forged = with_button_value(message, json.dumps({**value, "sig": "0" * 64}))
    refused = await click(server, forged, "Approve", BOB, replies)
    assert refused.status_code == 400 and "did not make" in refused.text
    other_arguments = slack_button_value(waiting.thread_id, request["request_id"], "f" * 64)
    elsewhere = with_button_value(message, other_arguments)
    stale = await click(server, elsewhere, "Approve", BOB, replies)
    assert stale.status_code == 200
    assert reply(replies)["text"].startswith("Not answered: Stale answer: args_digest")
    assert (await waiting.request())["request_id"] == request["request_id"]
    assert (await waiting.values())["audit"] == [] and waiting.executions() == []


async def test_a_click_on_approve_approves_as_its_person_and_runs_once(
    server, waiting, notices, replies
):
    request = await waiting.request()
    message = notice_of(notices, waiting.thread_id)
    answered = await click(server, message, "Approve", BOB, replies)
    assert answered.status_code == 200
    outcome = reply(replies)
    assert outcome == {
        "replace_original": True,
        "text": f"Approved by bob@signoff.local: {SUMMARY}. Status: executed.",
    }
    values = await waiting.values()
    [entry] = values["audit"]
    assert (entry["reviewer"], entry["decision"]) == ("bob@signoff.local", "approve")
    assert entry["request_id"] == request["request_id"]
    assert len(waiting.executions()) == 1

    again = await click(server, message, "Approve", BOB, replies)  # a second click
    assert again.status_code == 200
    assert reply(replies, 2) == {
        "response_type": "ephemeral",
        "replace_original": False,
        "text": f"Not answered: Request {request['request_id']} is no longer pending on thread "
        f"{waiting.thread_id}.",
    }
    assert len((await waiting.values())["audit"]) == 1 and len(waiting.executions()) == 1


async def test_a_bad_signature_is_refused_and_changes_nothing(
    server, waiting, notices, replies, slack
):
    request = await waiting.request()
    message = notice_of(notices, waiting.thread_id)
    asked = len(slack.calls)
    refused = await click(server, message, "Approve", BOB, replies, secret="not-the-secret")
    assert refused.status_code == 401
    assert "does not verify" in refused.text and "SIGNOFF_SLACK_SIGNING_SECRET" in refused.text
    assert replies.requests == [] and len(slack.calls) == asked  # refused before any work
    await unchanged(waiting, request)


async def test_a_replay_older_than_five_minutes_is_refused(server, waiting, notices, replies):
    request = await waiting.request()
    message = notice_of(notices, waiting.thread_id)
    signed_long_ago = int(time.time()) - 301
    refused = await click(server, message, "Approve", BOB, replies, timestamp=signed_long_ago)
    assert refused.status_code == 401
    assert "more than 5 minutes" in refused.text and "Click the button again" in refused.text
    assert replies.requests == []
    await unchanged(waiting, request)


async def test_a_slack_user_slack_does_not_know_is_refused(server, waiting, notices, replies):
    request = await waiting.request()
    message = notice_of(notices, waiting.thread_id)
    assert (await click(server, message, "Approve", NOBODY, replies)).status_code == 200
    refusal = reply(replies)
    assert refusal["response_type"] == "ephemeral" and refusal["replace_original"] is False
    assert refusal["text"].startswith(f"Not answered: Slack does not know user {NOBODY}")
    assert "user_not_found" in refusal["text"]
    await unchanged(waiting, request)


async def test_an_email_the_workspace_does_not_know_is_refused(server, waiting, notices, replies):
    request = await waiting.request()
    message = notice_of(notices, waiting.thread_id)
    assert (await click(server, message, "Approve", MALLORY, replies)).status_code == 200
    text = reply(replies)["text"]
    assert "mallory@elsewhere.example" in text and "no active user of the workspace" in text
    assert "their user name in the workspace" in text  # what would be allowed
    await unchanged(waiting, request)


async def test_a_person_who_may_not_decide_is_told_who_may_and_the_request_stays_answerable(
    server, waiting, notices, replies
):
    request = await waiting.request()
    message = notice_of(notices, waiting.thread_id)
    assert (await click(server, message, "Approve", CAROL, replies)).status_code == 200
    refusal = reply(replies)
    assert refusal["response_type"] == "ephemeral"
    assert "carol@signoff.local" in refusal["text"] and "managers" in refusal["text"]
    await unchanged(waiting, request)

    assert (await click(server, message, "Reject", BOB, replies)).status_code == 200
    assert (
        reply(replies, 2)["text"] == f"Rejected by bob@signoff.local: {SUMMARY}. Status: rejected."
    )
    [entry] = (await waiting.values())["audit"]
    assert (entry["reviewer"], entry["decision"]) == ("bob@signoff.local", "reject")
    assert waiting.executions() == []


@pytest.fixture
async def as_token(server) -> AsyncIterator[Any]:
    """Factory: `as_token(token)` is an HTTP client of the server sending `token`."""
    made: list[httpx.AsyncClient] = []

    def client(token: str) -> httpx.AsyncClient:
        made.append(
            httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
        )
        return made[-1]

    yield client
    for http in made:
        await http.aclose()


async def test_an_acting_token_reads_and_answers_its_thread_only(
    server, waiting, flow, server_key, as_token
):
    request = await waiting.request()
    other = flow("approve_reject")
    await other.start(PAYMENT)
    http = as_token(acting_token("bob@signoff.local", waiting.thread_id, request["request_id"]))
    assert (await http.get(f"/threads/{waiting.thread_id}/state")).status_code == 200
    assert (await http.get(f"/threads/{waiting.thread_id}")).status_code == 200
    for refused in (
        http.get(f"/threads/{other.thread_id}/state"),
        http.post("/threads/search", json={}),
        http.post("/threads", json={}),
        http.get("/signoff/metrics"),
    ):
        response = await refused
        assert response.status_code == 401, response.text
    assert (
        f"answers thread {waiting.thread_id} only"
        in (await http.get(f"/threads/{other.thread_id}/state")).text
    )
    await unchanged(waiting, request)


async def test_an_acting_token_runs_only_the_answer_to_its_request(
    server, waiting, server_key, as_token
):
    request = await waiting.request()
    [interrupt] = await waiting.pending()
    http = as_token(acting_token("bob@signoff.local", waiting.thread_id, request["request_id"]))
    runs = f"/threads/{waiting.thread_id}/runs/wait"
    approve = {"type": "approve", "request_id": request["request_id"]}
    for body in (
        {"command": {"resume": {interrupt["id"]: {**approve, "request_id": "another-request"}}}},
        {"command": {"resume": {"type": "approve"}}},  # names no request
        {"command": {"resume": {interrupt["id"]: approve}, "goto": "execute"}},
        {"input": {"operation": {"kind": "payment", "amount": 1, "target": "acct-1"}}},
    ):
        refused = await http.post(runs, json={"assistant_id": "approve_reject", **body})
        assert refused.status_code == 403, (body, refused.text)
        assert f"answers request {request['request_id']} only" in refused.text
    await unchanged(waiting, request)
    answered = await http.post(
        runs,
        json={"assistant_id": "approve_reject", "command": {"resume": {interrupt["id"]: approve}}},
    )
    assert answered.status_code == 200, answered.text
    assert len(waiting.executions()) == 1


async def test_an_acting_token_is_refused_once_expired_or_forged(
    server, waiting, server_key, as_token
):
    request = await waiting.request()
    made_long_ago = time.time() - ACTING_SECONDS - 1
    expired = acting_token(
        "bob@signoff.local", waiting.thread_id, request["request_id"], made_long_ago
    )
    refused = await as_token(expired).get(f"/threads/{waiting.thread_id}/state")
    assert refused.status_code == 401 and f"older than {ACTING_SECONDS} s" in refused.text
    token = acting_token("bob@signoff.local", waiting.thread_id, request["request_id"])
    claim, _, _ = token.rpartition(".")
    forged = f"{claim}.{uuid.uuid4().hex}"
    refused = await as_token(forged).get(f"/threads/{waiting.thread_id}/state")
    assert refused.status_code == 401 and "did not sign" in refused.text


async def test_an_acting_token_signs_nobody_in_to_the_inbox(server, waiting, server_key):
    request = await waiting.request()
    token = acting_token("bob@signoff.local", waiting.thread_id, request["request_id"])
    async with httpx.AsyncClient(base_url=server.url, headers={"Origin": server.url}) as http:
        refused = await http.post("/inbox/sign-in", data={"token": token})
        ours = await http.post("/inbox/sign-in", data={"token": TOKENS["bob"]})
    assert refused.status_code == 401 and "signs nobody in" in refused.text
    assert ours.status_code == 303
