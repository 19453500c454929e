"""Slack clicks in process: a callback counts only when Slack signed it in the last 5 minutes;
a click reads only from Slack's signed payload; a Slack user stands for a person only with a
confirmed email of this workspace; and the server's acting token is good for its own thread,
its own calls and one minute, and signs nobody in anywhere else. Whatever comes in, these
checks refuse it in words, and never raise anything else."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette

from signoff.client.answering import Refused
from signoff.governance.identity import ACTING_TOKEN_PREFIX, UnknownToken, resolve_token
from signoff.server.acting import (
    ACTING_SECONDS,
    acting_calls,
    acting_claim,
    acting_token,
    api_identity,
)
from signoff.server.slack import (
    MAX_AGE_SECONDS,
    PATH,
    Click,
    click_of,
    email_of,
    routes,
    signature_refusal,
)
from signoff.signals.webhooks import slack_blocks
from tests.property_settings import EXAMPLES
from tests.slack_fake import TEAM, block_actions, signed_callback, slack_headers, slack_user

SECRET = "slack-signing-secret"
NOW = 1_800_000_000
RESPONSE_URL = "https://hooks.slack.com/actions/T0SIGNOFF/1/abc"


@pytest.fixture(autouse=True)
def signing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's Slack signing secret: it signs clicks, button values and acting tokens."""
    monkeypatch.setenv("SIGNOFF_SLACK_SIGNING_SECRET", SECRET)


DIGEST = "d" * 64


def notice_buttons(thread_id: str = "thread-1", request_id: str = "req-1") -> list[dict[str, Any]]:
    """The buttons of a waiting request's notice, as Slack sends them back in a click."""
    event = {
        "type": "approval.requested",
        "thread_id": thread_id,
        "request_id": request_id,
        "args_digest": DIGEST,
    }
    actions = slack_blocks(event)[-1].to_dict()
    return actions["elements"]


def headers_of(signed: dict[str, str]) -> dict[str, str]:
    """Headers as Starlette gives them to the route: names in lower case."""
    return {name.lower(): value for name, value in signed.items()}


def callback(label: str = "Approve", timestamp: int = NOW, **payload: Any) -> tuple[bytes, dict]:
    """A callback of a click on `label`, signed with `SECRET` at `timestamp`."""
    [button] = [b for b in notice_buttons() if b["text"]["text"] == label]
    body, headers = signed_callback(
        {**block_actions(button, "U0BOB", RESPONSE_URL), **payload}, SECRET, timestamp
    )
    return body, headers_of(headers)


def test_a_callback_slack_signed_just_now_is_taken():
    body, headers = callback()
    assert signature_refusal(SECRET, body, headers, NOW + MAX_AGE_SECONDS) is None


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda b, h: (b, {**h, "x-slack-signature": "v0=" + "0" * 64}), "does not verify"),
        (lambda b, h: (b + b"&more=1", h), "does not verify"),
        (lambda b, h: (b, {}), "carry X-Slack-Signature"),
        (lambda b, h: (b, {**h, "x-slack-request-timestamp": "soon"}), "not a time"),
        (lambda b, h: (b, {**h, "x-slack-request-timestamp": str(NOW - 301)}), "301 s ago"),
        (lambda b, h: (b, {**h, "x-slack-request-timestamp": str(NOW + 301)}), "301 s ahead"),
        (lambda b, h: (b"\xff" + b, h), "does not verify"),
    ],
    ids=["signature", "body", "unsigned", "timestamp", "replay", "future", "not-text"],
)
def test_anything_else_is_refused_saying_why(change, says):
    body, headers = change(*callback())
    assert says in (signature_refusal(SECRET, body, headers, NOW) or "")


def test_a_replay_is_refused_however_well_signed():
    body, headers = callback(timestamp=NOW - MAX_AGE_SECONDS - 1)
    refusal = signature_refusal(SECRET, body, headers, NOW)
    assert refusal is not None and "more than 5 minutes" in refusal


@EXAMPLES
@given(
    body=st.binary(max_size=300),
    timestamp=st.one_of(st.text(max_size=20), st.integers(0, 2 * NOW).map(str)),
    signature=st.text(max_size=80),
)
def test_no_callback_breaks_the_check(body, timestamp, signature):
    headers = {"x-slack-request-timestamp": timestamp, "x-slack-signature": signature}
    assert isinstance(signature_refusal(SECRET, body, headers, NOW), str)


@EXAMPLES
@given(age=st.integers(-2 * MAX_AGE_SECONDS, 2 * MAX_AGE_SECONDS))
def test_a_signed_callback_counts_within_five_minutes_either_way(age):
    body, headers = callback(timestamp=NOW - age)
    assert (signature_refusal(SECRET, body, headers, NOW) is None) == (abs(age) <= 300)


def test_a_click_names_its_decision_request_and_slack_user():
    body, _ = callback("Reject")
    assert click_of(body) == Click(
        decision="reject",
        thread_id="thread-1",
        request_id="req-1",
        args_digest=DIGEST,
        slack_user="U0BOB",
        team=TEAM,
        response_url=RESPONSE_URL,
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "view_submission"},
        {"actions": []},
        {"actions": [{"action_id": "open_link"}]},
        {"actions": [{"action_id": ["signoff_approve"]}]},
    ],
)
def test_other_interactions_are_no_clicks(payload):
    body, _ = callback(**payload)
    assert click_of(body) is None


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"payload=not-json", "one `payload` field of JSON"),
        (b"text=hello", "one `payload` field of JSON"),
        (lambda: callback(user={"name": "bob"})[0], "needs user.id"),
        (lambda: callback(response_url=7)[0], "must be text"),
        (lambda: callback(actions=[{"action_id": "signoff_approve", "value": "{}"}])[0], "sig"),
    ],
)
def test_a_click_missing_what_slack_sends_is_refused(body, says):
    with pytest.raises(ValueError, match=re.escape(says)):
        click_of(body() if callable(body) else body)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
ACTIONS = st.lists(
    st.deferred(lambda: st.sampled_from(notice_buttons()))
    | st.dictionaries(st.sampled_from(["action_id", "value"]), JSON | st.just("signoff_approve")),
    max_size=2,
)
PAYLOADS = st.dictionaries(
    st.sampled_from(["type", "actions", "user", "team", "response_url"]),
    JSON | st.just("block_actions") | ACTIONS,
)


@EXAMPLES
@given(body=st.binary(max_size=200) | PAYLOADS.map(lambda p: signed_callback(p, SECRET)[0]))
def test_no_body_breaks_reading_a_click(body):
    try:
        click = click_of(body)
    except ValueError as error:
        assert str(error)  # it says what is missing
    else:
        assert click is None or isinstance(click, Click)


def test_a_confirmed_member_of_this_workspace_stands_for_their_email():
    assert email_of(slack_user("U0BOB", "bob@signoff.local"), TEAM) == "bob@signoff.local"


@pytest.mark.parametrize(
    ("user", "says"),
    [
        (slack_user("U1", "bob@signoff.local", deleted=True), "deactivated"),
        (slack_user("U1", "bot@signoff.local", is_bot=True), "only people decide"),
        (slack_user("U1", "bob@signoff.local", team="T0OTHER"), "other workspaces"),
        (slack_user("U1", None), "users:read.email"),
        (slack_user("U1", "bob@signoff.local", is_email_confirmed=False), "confirmed the email"),
    ],
    ids=["deactivated", "bot", "another-workspace", "no-email", "unconfirmed"],
)
def test_no_one_else_stands_for_anybody(user, says):
    with pytest.raises(Refused, match=says):
        email_of(user, TEAM)


def test_an_acting_token_carries_its_claim_for_a_minute():
    token = acting_token("bob@signoff.local", "thread-1", "req-1", now=NOW)
    claim = acting_claim(token, now=NOW + ACTING_SECONDS - 1)
    assert (claim.user, claim.thread_id, claim.request_id) == (
        "bob@signoff.local",
        "thread-1",
        "req-1",
    )
    assert token.startswith(ACTING_TOKEN_PREFIX)
    assert acting_token("bob@signoff.local", "thread-1", "req-1", now=NOW) != token  # a nonce
    with pytest.raises(UnknownToken, match="older than 60 s"):
        acting_claim(token, now=NOW + ACTING_SECONDS)


def test_an_acting_token_changed_in_any_way_is_refused():
    token = acting_token("bob@signoff.local", "thread-1", "req-1")
    signature = token.rpartition(".")[2]
    other = acting_token("erin@signoff.local", "thread-1", "req-1")
    erin = other.removeprefix(ACTING_TOKEN_PREFIX).partition(".")[0]
    for changed in (f"{ACTING_TOKEN_PREFIX}{erin}.{signature}", token + "A", token[:-2]):
        with pytest.raises(UnknownToken):
            acting_claim(changed)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/threads/thread-2/state"),
        ("POST", "/threads/search"),
        ("POST", "/threads/thread-1/runs"),
        ("DELETE", "/threads/thread-1"),
        ("POST", "/threads/thread-1/state"),
        ("GET", "/store/items"),
    ],
)
def test_an_acting_token_is_good_for_answering_its_thread_only(method, path):
    token = acting_token("bob@signoff.local", "thread-1", "req-1")
    assert (method, path) not in acting_calls("thread-1")
    with pytest.raises(UnknownToken, match="answers thread thread-1 only"):
        api_identity(token, method, path)


def test_an_acting_token_signs_nobody_in_by_itself():
    token = acting_token("bob@signoff.local", "thread-1", "req-1")
    with pytest.raises(UnknownToken, match="signs nobody in"):
        resolve_token(token)


@EXAMPLES
@given(text=st.text(max_size=200))
def test_no_text_passes_for_an_acting_token(text):
    with pytest.raises(UnknownToken):
        acting_claim(ACTING_TOKEN_PREFIX + text)


@pytest.fixture
def route() -> httpx.AsyncClient:
    """The Slack route alone, in process."""
    app = Starlette(routes=routes())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://signoff")


async def test_with_slack_approvals_off_the_route_says_how_to_turn_them_on(route, monkeypatch):
    body, headers = callback(timestamp=int(time.time()))
    monkeypatch.delenv("SIGNOFF_SLACK_SIGNING_SECRET", raising=False)
    async with route:
        off = await route.post(PATH, content=body, headers=headers)
    assert off.status_code == 404 and "SIGNOFF_SLACK_SIGNING_SECRET" in off.text


async def test_the_route_refuses_what_slack_did_not_sign_and_ignores_other_interactions(
    route, monkeypatch
):
    monkeypatch.setenv("SIGNOFF_SLACK_SIGNING_SECRET", SECRET)
    now = int(time.time())
    forged, headers = callback(timestamp=now)
    not_a_click, other_headers = callback(timestamp=now, type="view_submission")
    garbled = b"payload=%7B"
    async with route:
        refused = await route.post(PATH, content=forged + b"x", headers=headers)
        ignored = await route.post(PATH, content=not_a_click, headers=other_headers)
        unread = await route.post(PATH, content=garbled, headers=slack_headers(garbled, SECRET))
    assert refused.status_code == 401 and "does not verify" in refused.text
    assert (ignored.status_code, ignored.text) == (200, "")
    assert unread.status_code == 400 and "one `payload` field of JSON" in unread.text
