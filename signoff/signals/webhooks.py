"""Webhook notifications: a durable outbox, delivered at least once.

`notify(event_type, body)` enqueues one event in the outbox (`signoff.signals.outbox`: a
SQLite file by default, a table in the deployment's PostgreSQL or Lakebase when the checkpoints
are there) and returns at once; it never calls the receiver and never raises (a storage error
is logged and the event dropped), so a notification never fails or slows a run.
`deliver_due()` posts every event whose time has come; the server runs it every second
(`delivery_loop`, from its lifespan) and `signoff sweep` runs a pass after its sweep.

**Events** (`EVENT_TYPES`): `approval.requested` (a review node shows a request),
`approval.reminded` and `approval.escalated` (the sweeper, when a request's `remind_at` or
`escalates_at` passes), `approval.decided` (a person answered), `approval.expired` (nobody did
in time).

**Body**: one JSON object, UTF-8. signoff adds `id` (the event id, see below), `type` (one of
the events) and `occurred_at` (when it was enqueued, ISO 8601 UTC); the rest are the fields
the caller gave (`signoff.signals.events` sends these):

- `thread_id`, `graph`: the thread waiting and the graph it runs;
- `request_id`: the approval request; `stage`: its stage, e.g. `"review"`;
- `summary`: what the request asks, in one line (`payment of 5,000 USD to acct-9`);
- `action`: the action(s) or tool(s) to approve, comma separated; `args_summary`: their
  arguments as JSON, cut to 200 characters;
- `requested_by`: who started the run; `deciders`: the groups that may decide;
- `created_at`, `escalates_at`, `expires_at`: the request's deadlines (ISO 8601, or null);
- `link`: where a person opens the request (the inbox at `SIGNOFF_PUBLIC_URL`);
- `decided_by`, `decision`, `reason`: on `approval.decided` and `approval.expired` only.

A caller may pass `detail` (e.g. a decision's tool-call id) to tell apart several events of
one type for one request; it goes into the id and is not sent.

**Headers**: `Content-Type: application/json`, `X-Signoff-Event: <type>`,
`X-Signoff-Event-Id: <id>` and, when `SIGNOFF_WEBHOOK_SECRET` is set,
`X-Signoff-Signature: sha256=<hex>`: HMAC-SHA256 of the raw body bytes under the secret.
Verify it on the bytes as received, before parsing, in constant time::

    expected = "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers["X-Signoff-Signature"]): reject()

**Delivery**: a 2xx response delivers the event; anything else (another status, a redirect,
a timeout, a refused connection) is retried after about 1 s, 2 s, 4 s ... (at most 5 min,
plus up to 10 % jitter), and given up after `SIGNOFF_WEBHOOK_ATTEMPTS` attempts with a
warning in the log. Delivery is **at least once**: a retry, or a process that died after
sending, can repeat an event. A retry sends byte-identical content with the same id, and the
id is stable (`event_id`): the same event about the same request always gets the same one,
and the outbox stores it once however often it is enqueued (graph replays, several
sweepers). Receivers drop events whose `id` they have seen. Events are not ordered.

Several processes (server workers and replicas, a sweeper command) can share one outbox: each
pass claims one event at a time in a single statement (`SELECT ... FOR UPDATE SKIP LOCKED` on
PostgreSQL), which counts the attempt and leases the event for the request's timeout plus
`LEASE_MARGIN_SECONDS`, so no other pass sends it meanwhile; a process that dies mid-send
leaves it to be retried when the lease ends.

**Variables**:

- `SIGNOFF_WEBHOOK_URL`: where events go; unset, nothing is enqueued or sent;
- `SIGNOFF_WEBHOOK_SECRET`: signs each body (`X-Signoff-Signature`); unset, nothing is signed;
- `SIGNOFF_WEBHOOK_FORMAT`: `json` (default), or `slack` to post a Slack message
  (`slack_message`) to a Slack incoming webhook instead of the event (same headers and
  retries): `{"text": "<one line>"}`, and, when Slack approvals are on
  (`SIGNOFF_SLACK_SIGNING_SECRET` and `SIGNOFF_SLACK_BOT_TOKEN`), Block Kit `blocks` with
  Approve and Reject buttons on the notices of a request still waiting (`PENDING_EVENTS`);
  `signoff.server.slack` answers their clicks;
- `SIGNOFF_WEBHOOK_ATTEMPTS`: attempts per event before giving up (default 10);
- `SIGNOFF_WEBHOOK_TIMEOUT_SECONDS`: per request (default 5);
- `SIGNOFF_OUTBOX`: the outbox file when the checkpoints are in SQLite (default
  `.signoff/outbox.sqlite`); on PostgreSQL or Lakebase the outbox is table `signoff_outbox`.

The outbox keeps delivered and given-up events (`delivered_at`, `gave_up_at`, `last_error`),
which is what makes enqueuing idempotent; inspect it with any SQLite or PostgreSQL client.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from signoff.clock import stamp
from signoff.protocol.summaries import clip, visible
from signoff.settings import environment
from signoff.signals.outbox import Claimed, Outbox, opened_outbox

log = logging.getLogger("signoff.signals.webhooks")

EVENT_TYPES = (
    "approval.requested",
    "approval.reminded",
    "approval.escalated",
    "approval.decided",
    "approval.expired",
)
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 300.0
JITTER = 0.1
LEASE_MARGIN_SECONDS = 30.0
ERROR_CHARACTERS = 200
_ADDED = ("id", "type", "occurred_at", "detail")
"""Body keys signoff sets itself (or, for `detail`, does not send)."""
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "signoff:webhook-event")
PENDING_EVENTS = ("approval.requested", "approval.reminded", "approval.escalated")
"""The events about a request still waiting: with Slack approvals on, their notices carry the
buttons."""
SLACK_DECISIONS = {"signoff_approve": "approve", "signoff_reject": "reject"}
"""The `action_id` of each Slack button → the decision it answers with. Each button's `value`
names the thread, the request and the digest of the arguments shown, signed
(`slack_button_value`)."""
HEADER_CHARACTERS = 150
"""The longest header Block Kit takes (the notice's summary)."""
SLACK_FIELD_CHARACTERS = 300
"""The most of any one request field a Slack notice shows (escaped, it stays in Block Kit's
limits)."""


@dataclass
class DeliveryReport:
    """What one delivery pass did, in events."""

    delivered: int = 0
    retried: int = 0
    """Failed this time, scheduled again."""
    gave_up: int = 0
    """Failed for the last allowed time."""


def event_id(event_type: str, request_id: str, detail: str = "") -> str:
    """The stable id of `event_type` about `request_id` (and `detail`): a UUID 5, the same
    every time, so the outbox stores the event once and receivers can drop repeats."""
    return str(uuid.uuid5(_NAMESPACE, f"{event_type}/{request_id}/{detail}"))


def signature(body: bytes, secret: str) -> str:
    """`sha256=<hex HMAC-SHA256 of body under secret>`, the `X-Signoff-Signature` header."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def notify(event_type: str, body: dict[str, Any]) -> str | None:
    """Enqueue one event when `SIGNOFF_WEBHOOK_URL` is set and return its id; `None` when it is
    not, or when the event could not be stored (logged). Never raises, never calls the receiver.

    `body` holds the event's fields; its `request_id` and optional `detail` (not sent) make the
    id. An event without a `request_id` gets a random id: nothing can tell its repeats apart.
    One insert of about a millisecond (on PostgreSQL, on a pooled connection), but blocking:
    from a coroutine, call it through `asyncio.to_thread` (`langgraph dev` refuses blocking
    calls on its event loop, which would drop the event)."""
    if not environment().webhook_url:
        return None
    try:
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}; expected one of {EVENT_TYPES}")
        request_id = body.get("request_id")
        detail = str(body.get("detail") or "")
        id_ = event_id(event_type, str(request_id), detail) if request_id else str(uuid.uuid4())
        event = {
            "id": id_,
            "type": event_type,
            "occurred_at": stamp(),
            **{key: value for key, value in body.items() if key not in _ADDED},
        }
        encoded = json.dumps(event, ensure_ascii=False, default=str).encode()
        with opened_outbox() as outbox:
            outbox.enqueue(id_, event_type, encoded, time.time())
    except Exception as error:
        log.error("could not enqueue webhook event %s: %s", event_type, error)
        return None
    return id_


def deliver_due(now: float | None = None, client: httpx.Client | None = None) -> DeliveryReport:
    """One delivery pass: post every event due at `now` (epoch seconds; default: the time) to
    `SIGNOFF_WEBHOOK_URL` through `client` (default: one of its own), and record each outcome
    (see the module docstring). Blocking: run it in a worker thread from async code."""
    report = DeliveryReport()
    url = environment().webhook_url
    if not url:
        return report
    at = _clock(now)
    max_attempts = environment().webhook_attempts
    timeout = environment().webhook_timeout_seconds
    with contextlib.ExitStack() as stack:
        http = client or stack.enter_context(httpx.Client())
        outbox = stack.enter_context(opened_outbox())
        # Due at the pass's start (an event retried meanwhile waits for the next pass), leased
        # from the moment of each claim: a long pass never claims with a lease already over.
        while event := outbox.claim(at, _clock(now) + timeout + LEASE_MARGIN_SECONDS):
            error = _post(http, url, event, timeout)
            _record(outbox, event, error, _clock(now), max_attempts, report)
    return report


def _clock(now: float | None) -> float:
    """The time now (epoch seconds), or the pass's fixed `now` when one was given."""
    return time.time() if now is None else now


async def delivery_loop(stop: asyncio.Event, interval: float = 1.0) -> None:
    """Run `deliver_due` in a worker thread every `interval` seconds until `stop` is set, on
    one HTTP client (its connections are reused). Never raises: a failed pass is logged and
    the next one runs as usual."""
    with httpx.Client() as client:
        while not stop.is_set():
            try:
                await asyncio.to_thread(deliver_due, client=client)
            except Exception:
                log.exception("webhook delivery pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)


def slack_message(body: dict[str, Any]) -> dict[str, Any]:
    """What `SIGNOFF_WEBHOOK_FORMAT=slack` posts for the event `body`: its `slack_text`, and,
    for a request still waiting when Slack approvals are on (`slack_approvals_on`), the Block
    Kit `blocks` of `slack_blocks`."""
    message: dict[str, Any] = {"text": slack_text(body)}
    if body.get("type") in PENDING_EVENTS and slack_approvals_on():
        message["blocks"] = [block.to_dict() for block in slack_blocks(body)]
    return message


def slack_approvals_on() -> bool:
    """Whether Slack notices carry buttons: the server can check Slack's signature on a click
    (`SIGNOFF_SLACK_SIGNING_SECRET`) and learn who clicked (`SIGNOFF_SLACK_BOT_TOKEN`)."""
    settings = environment()
    return bool(settings.slack_signing_secret and settings.slack_bot_token)


def slack_blocks(body: dict[str, Any]) -> list[Block]:
    """The Block Kit notice of a waiting request: its summary as the header, who may decide,
    who asked, what runs and the arguments, the inbox link, then Approve (confirmed in a
    dialog that repeats the summary and the arguments) and Reject buttons whose `value` names
    the thread, the request and the arguments shown, signed (`slack_button_value`). All that
    comes from the request is plain text (a requester's text can style or link nothing), cut
    to `SLACK_FIELD_CHARACTERS`. A request whose ids would not fit a button's value gets no
    buttons."""
    summary = _shown(body.get("summary") or body.get("action")) or "an action"
    arguments = _shown(body.get("args_summary")) or "none"
    what = _shown(body.get("action")) or "an action"
    if stage := _shown(body.get("stage")):
        what += f" ({stage})"
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=clip(summary, HEADER_CHARACTERS))),
        SectionBlock(
            fields=[
                _field("May decide", _names(body.get("deciders"))),
                _field("Requested by", _shown(body.get("requested_by"))),
                _field("Runs", what),
                _field("Arguments", arguments),
            ],
        ),
        ContextBlock(elements=[MarkdownTextObject(text=_context(body))]),
    ]
    value = slack_button_value(
        str(body.get("thread_id")), str(body.get("request_id")), str(body.get("args_digest"))
    )
    if len(value) <= ButtonElement.value_max_length:
        approve, reject = SLACK_DECISIONS
        confirm = ConfirmObject(
            title="Approve this request?",
            text=PlainTextObject(text=clip(f"{summary}\n{arguments}", SLACK_FIELD_CHARACTERS)),
            confirm="Approve",
            deny="Cancel",
        )
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text="Approve",
                        action_id=approve,
                        value=value,
                        style="primary",
                        confirm=confirm,
                    ),
                    ButtonElement(text="Reject", action_id=reject, value=value, style="danger"),
                ]
            )
        )
    return blocks


def slack_key(purpose: bytes) -> bytes:
    """A key for `purpose` alone, derived from the Slack signing secret: whoever holds that
    secret can already sign a click as anyone, so the keys derived from it (button values,
    acting tokens) trust nobody new. `ValueError` when no secret is set."""
    secret = environment().slack_signing_secret
    if not secret:
        raise ValueError("Slack approvals are off: SIGNOFF_SLACK_SIGNING_SECRET is not set.")
    return hmac.new(secret.encode(), purpose, hashlib.sha256).digest()


_BUTTON_PURPOSE = b"signoff slack button: the request a notice showed"
_BUTTON_IDS = ("thread_id", "request_id", "args_digest")


def slack_button_value(thread_id: str, request_id: str, args_digest: str) -> str:
    """The `value` of a notice's buttons: the thread, the request and the digest of the
    arguments the notice showed, signed (`sig`) so that only a notice this server posted can
    answer a request, and only on the arguments it showed."""
    ids = dict(zip(_BUTTON_IDS, (thread_id, request_id, args_digest), strict=True))
    return json.dumps({**ids, "sig": _button_sig(ids)}, separators=(",", ":"))


def slack_button_ids(value: str) -> dict[str, str]:
    """The thread, request and digest a button `value` names, when this server signed it;
    `ValueError` saying why not otherwise."""
    try:
        parsed = json.loads(value)
        ids = {key: parsed[key] for key in _BUTTON_IDS}
        sig = parsed["sig"]
    except (KeyError, TypeError, ValueError):
        raise ValueError(
            'a button value of {"thread_id", "request_id", "args_digest", "sig"}'
        ) from None
    if not all(isinstance(v, str) and v for v in ids.values()) or not isinstance(sig, str):
        raise ValueError("a button value's thread, request, digest and signature are text")
    if not hmac.compare_digest(sig, _button_sig(ids)):
        raise ValueError(
            "a button this server did not make: answer from a notice signoff posted, or in "
            "the inbox"
        )
    return ids


def _button_sig(ids: dict[str, str]) -> str:
    canonical = json.dumps(ids, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(slack_key(_BUTTON_PURPOSE), canonical, hashlib.sha256).hexdigest()


def slack_text(body: dict[str, Any]) -> str:
    """A one-line summary of the event `body` for a Slack incoming webhook, the request's
    `summary` first. Everything taken from the request (summary, action, stage, who) is
    escaped for Slack's markup (`slack_escaped`), so an action named like a link or a mention
    shows as text: only the inbox link is a link."""
    text = slack_escaped(f"{body.get('type', 'approval')}: {body.get('action') or 'an action'}")
    if summary := body.get("summary"):
        text = slack_escaped(f"{summary} — ") + text
    if body.get("stage"):
        text += slack_escaped(f" ({body['stage']})")
    if body.get("decision"):
        text += slack_escaped(f", {body['decision']} by {body.get('decided_by')}")
    elif deciders := body.get("deciders"):
        text += slack_escaped(f", for {_names(deciders)}")
    if body.get("link"):
        text += f" <{slack_escaped(str(body['link']))}|open>"
    return text


def slack_escaped(text: str) -> str:
    """`text` with Slack's control characters escaped (`&`, `<`, `>`), as Slack documents."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _names(deciders: Any) -> str:
    """The groups in an event's `deciders`, comma separated."""
    if not deciders:
        return ""
    return deciders if isinstance(deciders, str) else ", ".join(map(str, deciders))


def _shown(value: Any) -> str:
    """An event field as a Slack notice shows it: text, cut to `SLACK_FIELD_CHARACTERS`."""
    return clip(visible(str(value)), SLACK_FIELD_CHARACTERS) if value else ""


def _field(title: str, value: str) -> PlainTextObject:
    """A field of the notice, as plain text: a requester's text can style nothing."""
    return PlainTextObject(text=f"{title}: {clip(value, SLACK_FIELD_CHARACTERS) or '-'}")


def _context(body: dict[str, Any]) -> str:
    """The notice's last line: which event it is, and the inbox link."""
    line = slack_escaped(_shown(body.get("type")) or "approval")
    if link := body.get("link"):
        line += f" · <{slack_escaped(str(link))}|Open in the inbox>"
    return line


def _post(http: httpx.Client, url: str, event: Claimed, timeout: float) -> str | None:
    """Send `event` once; `None` when the receiver took it (2xx), else what went wrong."""
    content = event.body
    if environment().webhook_format.lower() == "slack":
        content = json.dumps(slack_message(json.loads(event.body))).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Signoff-Event": event.type,
        "X-Signoff-Event-Id": event.id,
    }
    if secret := environment().webhook_secret:
        headers["X-Signoff-Signature"] = signature(content, secret)
    try:
        response = http.post(url, content=content, headers=headers, timeout=timeout)
    except Exception as error:  # timeouts, refused connections, bad URLs: all retried
        return f"{type(error).__name__}: {error}"[:ERROR_CHARACTERS]
    if response.is_success:
        return None
    return f"HTTP {response.status_code}: {response.text}"[:ERROR_CHARACTERS]


def _record(
    outbox: Outbox,
    event: Claimed,
    error: str | None,
    at: float,
    max_attempts: int,
    report: DeliveryReport,
) -> None:
    """Record in the outbox and `report` how sending `event` at `at` went (`error` or none)."""
    if error is None:
        outbox.delivered(event.id, at)
        report.delivered += 1
        return
    gives_up = event.attempts >= max_attempts
    retry_at = None if gives_up else at + _backoff(event.attempts)
    if not outbox.failed(event, error, retry_at, at):
        return  # its lease ran out and another pass has claimed it since: that pass owns it
    if gives_up:
        log.warning(
            "gave up on webhook event %s (%s) after %d attempts: %s",
            event.id,
            event.type,
            event.attempts,
            error,
        )
        report.gave_up += 1
    else:
        report.retried += 1


def _backoff(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones: doubling, capped, jittered."""
    delay = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** min(attempts - 1, 16))
    return delay + random.uniform(0, delay * JITTER)
