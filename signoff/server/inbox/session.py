"""Signing in to the web inbox: the same bearer tokens and identities as the API, kept in a
cookie.

The sign-in form posts a token; it is resolved by `signoff.governance.identity.resolve_token`,
exactly as the server's auth resolves an `Authorization` header, and kept in a cookie that scripts
cannot read (`HttpOnly`), that is only sent over HTTPS or to this machine (`Secure`: browsers accept
it on `http://localhost` and `127.0.0.1`) and never with a request from another site
(`SameSite=Strict`). Every form that changes something also carries `csrf_token(token)`, which a
page of another site cannot know. Signing in and out carry no session yet (or end it), so
they are checked by where the form comes from instead (`from_this_site`): a browser names the
page's origin on every form it posts, and only this server's own pages (or
`SIGNOFF_PUBLIC_URL`'s) may sign a browser in or out, so another site can neither sign a
victim in as its own user (login CSRF) nor sign them out.

Everything the inbox decides, it sends to the API with this token, so the server's auth
(roles, four-eyes, 403s) applies to it as to any client.

Where the platform signs people in itself (Databricks Apps forwards the user's token with each
request: `signoff.apps`), the deployment registers how to read that token
(`signoff.server.server_client.Deployment.forwarded_token`), and a request carrying it is
signed in as its user without the form or the cookie; its forms carry the same CSRF value,
derived from that token.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from signoff.governance.delegation import Delegation, standing_in
from signoff.governance.identity import Identity, UnknownToken, resolve_token
from signoff.server.server_client import served_by
from signoff.server.standing_api import server_delegations_to
from signoff.settings import environment

COOKIE = "signoff_session"
COOKIE_PATH = "/inbox"
SESSION_SECONDS = 8 * 3600
"""How long a sign-in lasts in the browser (the token itself may expire sooner)."""


@dataclass(frozen=True)
class Session:
    """A signed-in user of the inbox."""

    token: str
    identity: Identity
    """The user, with the groups of whoever delegated to them now in `stands_in`."""
    delegations: tuple[Delegation, ...] = ()
    """The delegations that name this user as delegate (signed, from the store)."""

    @property
    def csrf(self) -> str:
        """What this user's forms must carry."""
        return csrf_token(self.token)


async def signed_in(request: Request) -> Session | None:
    """The session of the token the platform forwards with `request` (when the deployment
    registered one), else of the token in its cookie; `None` without a valid one."""
    deployment = served_by()
    try:
        forwarded = None
        if deployment is not None and deployment.forwarded_token is not None:
            forwarded = await deployment.forwarded_token(request.headers)
        token = forwarded or request.cookies.get(COOKIE, "")
        return await _session(token) if token else None
    except UnknownToken:
        return None


async def sign_in(token: str) -> Session:
    """The session for `token`; raises `UnknownToken` with why it is refused."""
    return await _session(token.strip())


async def _session(token: str) -> Session:
    """The session of `token`: its user, and the delegations that let them stand in for
    others (read again on every page, so a revocation takes effect at once)."""
    identity = await asyncio.to_thread(resolve_token, token)
    delegations = tuple(await server_delegations_to(identity.user))
    return Session(token, replace(identity, stands_in=standing_in(delegations)), delegations)


def keep(response: Response, session: Session) -> None:
    """Set the session cookie on `response`."""
    response.set_cookie(
        COOKIE,
        session.token,
        max_age=SESSION_SECONDS,
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )


def forget(response: Response) -> None:
    """Remove the session cookie."""
    response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=True, httponly=True, samesite="strict")


def csrf_token(token: str) -> str:
    """A value derived from the session's token: only pages of this inbox can show it."""
    return hmac.new(token.encode(), b"signoff-inbox-form", hashlib.sha256).hexdigest()


def csrf_ok(session: Session, posted: str | None) -> bool:
    """Whether a form posted the session's own CSRF value."""
    return hmac.compare_digest(session.csrf, posted or "")


def from_this_site(request: Request) -> bool:
    """Whether a posted form comes from a page of this server: its `Origin` header (or, when a
    browser sends none, its `Referer`) names this server's host, or `SIGNOFF_PUBLIC_URL`'s."""
    source = request.headers.get("origin") or request.headers.get("referer") or ""
    host = urlsplit(source).netloc
    ours = {
        request.headers.get("host", ""),
        urlsplit(environment().public_url or "").netloc,
    }
    return bool(host) and host in ours
