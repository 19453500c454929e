"""Approving from Slack: the route Slack posts a button click to, answered as the person who
clicked.

With Slack approvals on (`SIGNOFF_SLACK_SIGNING_SECRET` and `SIGNOFF_SLACK_BOT_TOKEN`), the
Slack notice of a waiting request carries Approve and Reject buttons
(`signoff.signals.webhooks.slack_blocks`). A click is Slack's interaction callback,
`POST /signoff/slack/interactions` (the Slack app's Interactivity Request URL), a form with
one field, `payload`: the `block_actions` JSON. Then:

1. **Slack's signature.** The body must carry `X-Slack-Signature` (`v0=` HMAC-SHA256 of
   `v0:{timestamp}:{body}` under the signing secret) and `X-Slack-Request-Timestamp` at most
   `MAX_AGE_SECONDS` (5 minutes) from now: `slack_sdk.signature.SignatureVerifier` checks
   both. Anything else is a 401 saying what was wrong, and nothing else happens. A signed
   click is acknowledged at once (Slack waits 3 s at most); the rest runs after that
   response, and its outcome goes to the click's `response_url`.
2. **Who clicked.** Only Slack's signed `user.id` counts: Slack's `users.info` (with the bot
   token) gives that user's email, and the workspace's user of that user name, with their
   groups, is the person (`signoff.governance.identity.workspace_user`). A deactivated or bot
   user, one of another Slack workspace, one without a confirmed email, or an email the
   workspace does not know is refused, and the refusal says so.
3. **The answer, as them.** As in the inbox, a person the policy would refuse is told so in
   its own words, naming who may decide, before anything is sent
   (`signoff.governance.policy.decision_refusal`). Otherwise the route sends the decision
   through the API exactly as the inbox does (`signoff.client.answering.answer_request`),
   with an acting token for that person and thread (`signoff.server.acting`): the server's
   auth, the policy, four-eyes and the audit trail apply as to any answer. A refusal
   changes nothing, and is what the clicker reads.
4. **The reply.** A decided request replaces the notice with its outcome (so nobody clicks
   it again); a refusal, or a vote that leaves the request waiting for more, is an ephemeral
   message to the clicker alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import httpx
from langgraph_sdk.client import LangGraphClient
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.signature import Clock, SignatureVerifier
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from signoff.client.answering import Refused, answer_request
from signoff.governance.identity import Identity, UnknownUser, workspace_user
from signoff.governance.policy import decision_refusal
from signoff.protocol.interrupts import pending_request
from signoff.protocol.summaries import summary_of
from signoff.server.acting import acting_token, own_api
from signoff.server.server_client import server_client
from signoff.server.standing_api import server_delegations_to
from signoff.settings import environment
from signoff.signals.events import inbox_link
from signoff.signals.webhooks import SLACK_DECISIONS, slack_button_ids, slack_escaped

log = logging.getLogger("signoff.server.slack")

PATH = "/signoff/slack/interactions"
MAX_AGE_SECONDS = 300
"""A callback signed longer ago than this (or as far in the future) is refused as a replay."""
SLACK_TIMEOUT_SECONDS = 5
"""How long one call to Slack (`users.info`, a `response_url`) may take."""
DONE = {"approve": "Approved", "reject": "Rejected"}
UNKNOWN_USER_ERRORS = ("user_not_found", "user_not_visible")
"""What Slack's `users.info` answers for a user id it will not show this app."""
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True)
class Click:
    """A click on a notice's button, as Slack signed it."""

    decision: str
    """`approve` or `reject`."""
    thread_id: str
    request_id: str
    args_digest: str
    """The digest of the arguments the notice showed: the answer carries it, so it approves
    those arguments or nothing."""
    slack_user: str
    """Slack's user id of who clicked, e.g. `U024BE7LH`."""
    team: str
    """The Slack workspace the click came from, e.g. `T024BE7LD`."""
    response_url: str
    """Where the reply goes."""


class _At(Clock):
    """The verifier's clock, stopped at one moment."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


async def interactions(request: Request) -> Response:
    """Slack's interaction callback: verify it, acknowledge it, and answer a click on
    Approve or Reject as the person who clicked (after the response, see the module)."""
    secret = environment().slack_signing_secret
    if not secret:
        return PlainTextResponse(
            "Slack approvals are off on this server: set SIGNOFF_SLACK_SIGNING_SECRET (the "
            "Slack app's signing secret) and SIGNOFF_SLACK_BOT_TOKEN.",
            status_code=404,
        )
    body = await request.body()
    if refusal := signature_refusal(secret, body, request.headers, time.time()):
        return PlainTextResponse(refusal, status_code=401)
    try:
        click = click_of(body)
    except ValueError as error:
        return PlainTextResponse(f"Not a Slack interaction signoff reads: {error}", 400)
    if click is None:
        return Response(status_code=200)  # another interaction (a link): nothing to do
    return Response(status_code=200, background=BackgroundTask(answer_click, click, request))


def signature_refusal(
    secret: str, body: bytes, headers: Mapping[str, str], now: float
) -> str | None:
    """Why `body` with `headers` is not a callback Slack signed with `secret` less than
    `MAX_AGE_SECONDS` before `now`; `None` when it is."""
    timestamp = headers.get("x-slack-request-timestamp") or ""
    signature = headers.get("x-slack-signature") or ""
    if not timestamp or not signature:
        return (
            "Not signed by Slack: Slack interaction callbacks carry X-Slack-Signature and "
            "X-Slack-Request-Timestamp."
        )
    if not _TIMESTAMP.fullmatch(timestamp):
        return f"X-Slack-Request-Timestamp {timestamp[:40]!r} is not a time in epoch seconds."
    age = now - int(timestamp)
    if abs(age) > MAX_AGE_SECONDS:
        return (
            f"This callback was signed {abs(age):.0f} s {'ago' if age > 0 else 'ahead'}: "
            f"signoff refuses Slack callbacks signed more than {MAX_AGE_SECONDS // 60} minutes "
            "from now, as replays. Click the button again."
        )
    try:
        valid = SignatureVerifier(secret, clock=_At(now)).is_valid(body, timestamp, signature)
    except UnicodeDecodeError:  # Slack signs text
        valid = False
    if not valid:
        return (
            "The Slack signature does not verify: this callback was not signed with the signing "
            "secret set in SIGNOFF_SLACK_SIGNING_SECRET (the Slack app's Basic Information page "
            "shows it)."
        )
    return None


def click_of(body: bytes) -> Click | None:
    """The Approve or Reject click in a callback's body (`payload=<block_actions JSON>`);
    `None` for any other interaction; `ValueError` saying what is missing from one that is
    not a Slack interaction."""
    try:
        [raw] = parse_qs(body.decode(), strict_parsing=True)["payload"]
        payload = json.loads(raw)
    except (UnicodeDecodeError, KeyError, ValueError):
        raise ValueError("the body must be a form with one `payload` field of JSON") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions")
    action = actions[0] if isinstance(actions, list) and actions else None
    if not isinstance(action, dict):
        return None
    if (decision := SLACK_DECISIONS.get(str(action.get("action_id")))) is None:
        return None
    ids = slack_button_ids(str(action.get("value") or ""))  # ValueError: not ours
    try:
        fields = {
            "slack_user": payload["user"]["id"],
            "team": payload["team"]["id"],
            "response_url": payload["response_url"],
        }
    except (KeyError, TypeError, ValueError):
        raise ValueError("a block_actions payload needs user.id, team.id, response_url") from None
    if not all(isinstance(text, str) and text for text in (*ids.values(), *fields.values())):
        raise ValueError("the user, team, response_url, thread and request must be text")
    return Click(decision=decision, **ids, **fields)


async def answer_click(click: Click, request: Request) -> None:
    """Answer `click` as the person who made it and reply to Slack with how it went. Never
    raises: whatever goes wrong is logged, and said to the clicker."""
    try:
        person = await slack_person(click.slack_user, click.team)
        reply = await decide(person, click, request)
    except Refused as refusal:
        reply = _ephemeral(f"Not answered: {refusal}")
    except Exception as error:  # noqa: BLE001 - the clicker must hear of it
        log.exception("answering a Slack click on request %s failed", click.request_id)
        reply = _ephemeral(
            f"signoff could not answer this click ({type(error).__name__}: {error}). See where "
            f"the request stands in the inbox: {inbox_link(click.thread_id, click.request_id)}"
        )
    await _reply(click.response_url, reply)


async def slack_person(slack_user: str, team: str) -> Identity:
    """The workspace's person behind Slack user `slack_user` of workspace `team`, with their
    groups: Slack's `users.info` gives the email, the workspace the user of that user name.
    Raises `Refused` saying why nobody may decide as them."""
    try:
        found = await asyncio.to_thread(_users_info, slack_user)
    except SlackApiError as error:
        problem = error.response.get("error")
        if problem in UNKNOWN_USER_ERRORS:
            raise Refused(
                f"Slack does not know user {slack_user} ({problem}), so nobody decides as "
                "them. Only members of the Slack workspace the app is installed in decide "
                "from Slack."
            ) from None
        raise Refused(
            f"Slack refused to say who user {slack_user} is ({problem}): check "
            "SIGNOFF_SLACK_BOT_TOKEN, the app's bot token with the users:read and "
            "users:read.email scopes."
        ) from None
    email = email_of(found, team)
    try:
        return await asyncio.to_thread(workspace_user, email)
    except UnknownUser as error:
        raise Refused(
            f"Slack user {slack_user} has the email {email}, and {error}. A person decides "
            "from Slack when the email of their Slack profile is their user name in the "
            "workspace; anyone else answers in the inbox."
        ) from None


def email_of(user: Mapping[str, Any], team: str) -> str:
    """The confirmed email of Slack user object `user` (`users.info`'s `user`), a person of
    workspace `team`; raises `Refused` saying why it cannot stand for anyone."""
    name = f"Slack user {user.get('id')}"
    if user.get("deleted"):
        raise Refused(f"{name} is deactivated.")
    if user.get("is_bot") or user.get("is_app_user"):
        raise Refused(f"{name} is a bot or an app: only people decide.")
    if user.get("team_id") != team:
        raise Refused(
            f"{name} belongs to Slack workspace {user.get('team_id')}, not to {team} where the "
            "button was clicked: people from other workspaces (Slack Connect) answer in the "
            "inbox."
        )
    profile = user.get("profile")
    email = profile.get("email") if isinstance(profile, Mapping) else None
    if not isinstance(email, str) or not email:
        raise Refused(
            f"Slack shows no email for {name}: the app's bot token needs the users:read.email "
            "scope (and users:read)."
        )
    if user.get("is_email_confirmed") is not True:
        raise Refused(
            f"Slack does not say {name} confirmed the email {email}: only a confirmed email "
            "stands for a person of the workspace."
        )
    return email


async def decide(person: Identity, click: Click, request: Request) -> dict[str, Any]:
    """Send `click`'s decision as `person` through the API (`own_api`), exactly as the inbox
    does, and the reply that tells the clicker how it went. As in the inbox, a person the
    policy would refuse is told so in its own words (naming who may decide) before anything
    is sent; the server's auth and the review node check every answer again. Raises
    `Refused` when it is not accepted: nothing changes then."""
    server = server_client()
    waiting = await _waiting_on(server, click)
    delegations = await server_delegations_to(person.user)
    approving = click.decision == "approve"
    if refusal := decision_refusal(person, waiting, approving=approving, delegations=delegations):
        raise Refused(refusal, 403)
    token = acting_token(person.user, click.thread_id, click.request_id)
    decisions = [{"type": click.decision}] * len(waiting["action_requests"])
    async with own_api(request, token) as api:
        answer = {"decisions": decisions, "args_digest": click.args_digest}
        answered = await answer_request(
            api, click.thread_id, answer, click.request_id, reader=server
        )
    after = answered.after
    if _pending(after, click.request_id) is not None:  # a vote: the quorum needs more
        return _ephemeral(
            f"Your {click.decision} of {summary_of(waiting)} is recorded; the request waits "
            "for more approvals."
        )
    values = after.get("values")
    status = values.get("status") if isinstance(values, dict) else None
    outcome = f" Status: {status}." if isinstance(status, str) else ""
    text = f"{DONE[click.decision]} by {person.user}: {summary_of(waiting)}.{outcome}"
    return {"replace_original": True, "text": slack_escaped(text)}


def routes() -> list[BaseRoute]:
    """The Slack route, for the mounted app."""
    return [Route(PATH, interactions, methods=["POST"])]


def _users_info(slack_user: str) -> Mapping[str, Any]:
    """Slack's `users.info` of `slack_user`, with the bot token (blocking)."""
    settings = environment()
    if not settings.slack_bot_token:
        raise Refused(
            "SIGNOFF_SLACK_BOT_TOKEN is not set, so signoff cannot ask Slack who clicked."
        )
    client = WebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT_SECONDS,
    )
    user = client.users_info(user=slack_user).get("user")
    if not isinstance(user, Mapping):
        raise SlackClientError("users.info answered without a user")
    return user


async def _waiting_on(server: LangGraphClient, click: Click) -> dict[str, Any]:
    """The request `click` answers, read by the server itself; `Refused` when its thread no
    longer waits on it."""
    try:
        waiting = _pending(await server.threads.get_state(click.thread_id), click.request_id)
    except httpx.HTTPStatusError:  # no such thread (404), or not a thread id (422)
        waiting = None
    if waiting is None:
        raise Refused(
            f"Request {click.request_id} is no longer pending on thread {click.thread_id}.",
            409,
        )
    return waiting


def _pending(state: Any, request_id: str) -> dict[str, Any] | None:
    """The request `request_id` if the thread `state` still waits on it."""
    found = pending_request(state.get("interrupts") or [], request_id)
    return None if found is None else found["value"]


def _ephemeral(text: str) -> dict[str, Any]:
    """A reply only the clicker sees (`text`, escaped), leaving the notice and its buttons."""
    return {"response_type": "ephemeral", "replace_original": False, "text": slack_escaped(text)}


async def _reply(response_url: str, message: dict[str, Any]) -> None:
    """Post `message` to the click's `response_url`; a failure is logged."""
    try:
        async with httpx.AsyncClient(timeout=SLACK_TIMEOUT_SECONDS) as http:
            (await http.post(response_url, json=message)).raise_for_status()
    except httpx.HTTPError as error:
        log.warning("could not reply to a Slack click at its response_url: %s", error)
