"""The token the server makes to answer one Slack click as the person who clicked.

A Slack click reaches the server's own route (`signoff.server.slack`), not the API, and carries
no token of its person. Their answer must still reach the API as them, so that the server's
auth, the policy, four-eyes and the audit trail see who decided, exactly as for the inbox. So
the route, once it knows who clicked (Slack's signed callback, Slack's `users.info`, the
workspace's user of that email), makes an **acting token** for that answer:

    signoff-acting.<claim: base64url JSON>.<signature: base64url HMAC-SHA256>

- **Signed by the server.** The key is derived, for this purpose alone, from the Slack signing
  secret (`signoff.signals.webhooks.slack_key`): whoever holds that secret can already sign
  a click as anyone, so acting tokens trust nobody new (the audit key, which replicas and
  Model Serving endpoints hold, makes none), and nothing else the server signs can pass as
  a token. Nobody without the key can make one, and a client never sees
  one: the route sends it to the API itself (`SIGNOFF_API_URL`, else this server's own
  address).
- **One person, one thread, one minute.** The claim names the user, the thread and the
  request answered (the answer itself carries that request's id, and the review node takes
  it for no other); it expires `ACTING_SECONDS` after it is made.
- **Only for answering that request.** The API's auth accepts it (`api_identity`) only on
  the calls answering makes (`acting_calls`: read that thread and its state, run on it),
  nowhere else; the user it signs in carries `ACTING_FOR`, and a run made with it must
  answer that request and nothing else (`acting_refusal`): no input, no state write, no
  answer to another request of the thread. `signoff.governance.identity.resolve_token`
  refuses it, so it signs nobody in to the inbox or the metrics, and it never reaches the
  identity provider.
- **Nothing in it grants anything.** Its user's groups are read from the workspace when the
  API accepts it (`workspace_user`), as for any user; the policy and the review node decide
  the answer like any other.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from starlette.requests import Request

from signoff.governance.identity import (
    ACTING_TOKEN_PREFIX,
    Identity,
    UnknownToken,
    UnknownUser,
    auth_user_fields,
    resolve_token,
    workspace_user,
)
from signoff.server.admission import Refusal, RunRequest
from signoff.settings import environment
from signoff.signals.webhooks import slack_key

ACTING_SECONDS = 60
"""How long an acting token is accepted after it is made."""
_PURPOSE = b"signoff acting token: answer one Slack click as its person"
_TOKEN = re.compile(rf"^{re.escape(ACTING_TOKEN_PREFIX)}([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$")


@dataclass(frozen=True)
class ActingClaim:
    """What an acting token says: who answers which request, until when."""

    user: str
    """The workspace user name of the person who clicked."""
    thread_id: str
    request_id: str
    expires_at: float
    """Epoch seconds."""
    nonce: str
    """Random: no two tokens are alike."""


def acting_token(user: str, thread_id: str, request_id: str, now: float | None = None) -> str:
    """A token for `user` to answer `request_id` on `thread_id`, accepted for `ACTING_SECONDS`
    from `now` (default: the time)."""
    at = time.time() if now is None else now
    claim = ActingClaim(user, thread_id, request_id, at + ACTING_SECONDS, secrets.token_hex(16))
    encoded = _b64(json.dumps(asdict(claim), sort_keys=True, separators=(",", ":")).encode())
    return f"{ACTING_TOKEN_PREFIX}{encoded}.{_b64(_mac(encoded))}"


def acting_claim(token: str, now: float | None = None) -> ActingClaim:
    """The claim of `token`, a token this server made that has not expired at `now`; raises
    `UnknownToken` saying why for any other."""
    match = _TOKEN.match(token)
    if match is None:
        raise UnknownToken("not an acting token of this server")
    encoded, signature = match[1], match[2]
    if not hmac.compare_digest(_unb64(signature), _mac(encoded)):
        raise UnknownToken("an acting token this server did not sign")
    try:
        claim = ActingClaim(**json.loads(_unb64(encoded)))
    except (TypeError, ValueError):
        raise UnknownToken("an acting token whose claim does not read") from None
    if (time.time() if now is None else now) >= claim.expires_at:
        raise UnknownToken(f"an acting token older than {ACTING_SECONDS} s")
    return claim


ACTING_FOR = "acting_for_request"
"""The key, in the server's user object, of the one request an acting token answers."""


def acting_refusal(user: Any, run: RunRequest) -> Refusal | None:
    """Why `run`, made by the server user `user`, is refused: signed in with an acting token,
    it must be exactly an answer to that token's request (every value it resumes with names
    that `request_id`); `None` otherwise."""
    bound = auth_user_fields(user).get(ACTING_FOR)
    if bound is None:
        return None
    resume = run.command.get("resume")
    answers = list(resume.values()) if isinstance(resume, Mapping) else [resume]
    if (
        run.answering
        and set(run.command) == {"resume"}
        and answers
        and all(isinstance(a, Mapping) and a.get("request_id") == bound for a in answers)
        and not run.kwargs.get("input")
    ):
        return None
    return Refusal(
        403,
        f"This sign-in answers request {bound} only: send its answer, keyed by its "
        "interrupt and carrying its request_id, and nothing else.",
    )


def acting_calls(thread_id: str) -> frozenset[tuple[str, str]]:
    """The API calls (method, path) an acting token for `thread_id` may make: what answering
    a request does (`signoff.client.answering.answer_request`)."""
    return frozenset(
        {
            ("GET", f"/threads/{thread_id}"),
            ("GET", f"/threads/{thread_id}/state"),
            ("POST", f"/threads/{thread_id}/runs/wait"),
        }
    )


def api_identity(token: str, method: str, path: str) -> tuple[Identity, str | None]:
    """Who `token` signs in to the API's `method` `path`, for the server's auth, and the one
    request they may answer with it: an acting token's person (`acting_identity`) and its
    request, else whoever `resolve_token` knows and `None`. Raises `UnknownToken`. Blocking
    (the workspace, the key): call it off the event loop."""
    if token.startswith(ACTING_TOKEN_PREFIX):
        claim = acting_claim(token)
        return acting_identity(claim, method, path), claim.request_id
    return resolve_token(token), None


def acting_identity(claim: ActingClaim, method: str, path: str) -> Identity:
    """The person a valid acting token's `claim` answers for, with their groups from the
    workspace, when `method` `path` is one of the calls it allows (`acting_calls`); raises
    `UnknownToken` saying why not. Blocking."""
    if (method.upper(), path) not in acting_calls(claim.thread_id):
        raise UnknownToken(
            f"an acting token answers thread {claim.thread_id} only, not {method} {path}"
        )
    try:
        return workspace_user(claim.user)
    except UnknownUser as error:
        raise UnknownToken(str(error)) from None


def own_api(request: Request, token: str) -> LangGraphClient:
    """The API of this server, over HTTP, signed in with `token`: `SIGNOFF_API_URL`, else the
    address `request` came in on (the socket's, never a header a client sets), so a token
    goes nowhere but to this server."""
    url = environment().api_url
    if not url:
        host, port = request.scope.get("server") or ("127.0.0.1", 2024)
        url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    return get_client(url=url, headers={"Authorization": f"Bearer {token}"}, api_key=None)


def _mac(encoded_claim: str) -> bytes:
    try:
        key = slack_key(_PURPOSE)
    except ValueError as off:
        raise UnknownToken(str(off)) from None
    return hmac.new(key, encoded_claim.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return b""
