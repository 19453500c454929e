"""Slack, as the Slack route meets it, for tests: a local Web API and callbacks signed as Slack
signs them.

    with FakeSlack(BOT_TOKEN, [slack_user("U1", "bob@signoff.local")]) as slack:
        ...  # point SIGNOFF_SLACK_API_URL at slack.api_url
        body, headers = signed_callback(block_actions(button, "U1", response_url), SECRET)
        slack.calls  # the users.info lookups made so far: the user ids asked about

`FakeSlack` answers `users.info` (a GET with a query, or a POST with a form, as slack_sdk's
`WebClient.users_info` sends it) asked with the bearer bot token it was given:
`{"ok": true, "user": ...}` for a user it knows, Slack's `user_not_found` for any other,
`invalid_auth` for another token. `block_actions` is the payload of a click on a notice's
button, with the fields Slack sends; `signed_callback` makes the request Slack would post:
the form `payload=<JSON>` with `slack_headers`, `X-Slack-Request-Timestamp` and
`X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">`, computed here by hand
(not by the library the server verifies with).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.webhook_receiver import LoopbackServer

TEAM = "T0SIGNOFF"
"""The Slack workspace of the users here, unless told otherwise."""


def slack_user(user_id: str, email: str | None, team: str = TEAM, **fields: Any) -> dict[str, Any]:
    """A Slack user object as `users.info` returns it (`fields` override any key)."""
    name = (email or user_id).split("@")[0]
    profile: dict[str, Any] = {"real_name": name.capitalize(), "display_name": name}
    if email is not None:
        profile["email"] = email
    return {
        "id": user_id,
        "team_id": team,
        "name": name,
        "deleted": False,
        "real_name": name.capitalize(),
        "is_bot": False,
        "is_app_user": False,
        "is_restricted": False,
        "is_email_confirmed": True,
        "profile": profile,
        **fields,
    }


def block_actions(
    button: dict[str, Any],
    user_id: str,
    response_url: str,
    team: str = TEAM,
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `block_actions` payload of a click by `user_id` on `button` (a button element of a
    notice's blocks) in `message`."""
    return {
        "type": "block_actions",
        "user": {
            "id": user_id,
            "username": user_id.lower(),
            "name": user_id.lower(),
            "team_id": team,
        },
        "api_app_id": "A0SIGNOFF",
        "token": "deprecated-verification-token",
        "container": {"type": "message", "message_ts": "1700000000.000100"},
        "trigger_id": "1234567890.1234567890.abcdef",
        "team": {"id": team, "domain": "signoff"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": "C0APPROVALS", "name": "approvals"},
        "message": message or {},
        "response_url": response_url,
        "actions": [
            {
                "action_id": button["action_id"],
                "block_id": "decide",
                "text": button["text"],
                "value": button["value"],
                "style": button.get("style"),
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def signed_callback(
    payload: dict[str, Any], secret: str, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of Slack's interaction callback carrying `payload`, signed with
    `secret` at `timestamp` (epoch seconds; default: now)."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return body, slack_headers(body, secret, timestamp)


def slack_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack posts `body` with, signed with `secret` at `timestamp` (default:
    now)."""
    at = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + at.encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": at,
        "X-Slack-Signature": signature,
    }


class FakeSlack(LoopbackServer):
    """Slack's Web API `users.info` on a free loopback port, in a thread."""

    def __init__(self, bot_token: str, users: Iterable[dict[str, Any]]) -> None:
        super().__init__(self._handler())
        self.bot_token = bot_token
        self.users = {user["id"]: user for user in users}
        self._calls: list[str] = []
        self._lock = threading.Lock()

    @property
    def api_url(self) -> str:
        """The Web API's base URL (`SIGNOFF_SLACK_API_URL`)."""
        return f"{self.base_url}/api/"

    @property
    def calls(self) -> list[str]:
        """The user ids `users.info` was asked about, oldest first."""
        with self._lock:
            return list(self._calls)

    def users_info(self, authorization: str, user_id: str) -> dict[str, Any]:
        """What Slack answers `users.info` of `user_id` asked with `authorization`."""
        with self._lock:
            self._calls.append(user_id)
        if authorization != f"Bearer {self.bot_token}":
            return {"ok": False, "error": "invalid_auth"}
        if user_id not in self.users:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": self.users[user_id]}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        slack = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(urlsplit(self.path).query)

            def do_POST(self) -> None:  # slack_sdk's WebClient posts its arguments as a form
                length = int(self.headers.get("Content-Length") or 0)
                self._answer(self.rfile.read(length).decode())

            def _answer(self, arguments: str) -> None:
                if urlsplit(self.path).path != "/api/users.info":
                    answer: dict[str, Any] = {"ok": False, "error": "unknown_method"}
                else:
                    user_id = parse_qs(arguments).get("user", [""])[0]
                    answer = slack.users_info(self.headers.get("Authorization", ""), user_id)
                content = json.dumps(answer).encode()
                self.send_response(200)  # Slack answers its errors with 200 and ok: false
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *_: object) -> None:
                """Keep test output quiet."""

        return Handler
