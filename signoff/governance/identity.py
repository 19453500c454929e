"""Who is asking: a user and the groups they belong to, resolved from a bearer token.

By default a token is resolved by the Databricks workspace itself (real, or the local
emulator): the caller's token on `WorkspaceClient(...).current_user.me()`, whose groups are the
roles signoff's policy names. Answers are cached for `CACHE_SECONDS` per token.

Another identity provider (OIDC, JWT, ...) plugs in with `SIGNOFF_IDENTITY_RESOLVER=
"package.module:function"`: a function taking the bearer token and returning an `Identity`, or
raising `UnknownToken`. Nothing else changes: the server's auth (`signoff.server.auth`), the policy
and the audit trail only ever see `Identity`.

A person may also be found by user name (their email): `workspace_user` asks the workspace,
with the server's own credentials, for the user and their groups. That is how the Slack route
(`signoff.server.slack`) knows who clicked. It then answers through the API with a token the
server makes for that one answer (`signoff.server.acting`, beginning `ACTING_TOKEN_PREFIX`),
which only the API's auth accepts: `resolve_token` refuses it.

Inside a run, `run_identity(config)` is who started it, as the server's auth resolved it
(`langgraph_auth_user`, which clients cannot set) or as `SignoffAgent` resolved the Model
Serving caller. Studio's development bypass and the server's in-process `/noauth` calls have no
identity: they can start and read threads, but never decide.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache, cached
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_config

from signoff.databricks.workspace import workspace_client
from signoff.settings import environment

CACHE_SECONDS = 60
"""How long a resolved token (or a user looked up by name) is trusted before the workspace is
asked again."""

ACTING_TOKEN_PREFIX = "signoff-acting."
"""How the tokens the server makes to answer one Slack click as its person begin
(`signoff.server.acting`). Only the API's auth accepts them, for one thread and one minute;
`resolve_token` refuses them, so they sign nobody in to the inbox or the metrics and never
reach the identity provider."""


@dataclass(frozen=True)
class Identity:
    """An authenticated person (or service principal) and their groups."""

    user: str
    """The user name, e.g. `bob@signoff.local`: what the audit trail records."""

    groups: frozenset[str]
    """Group names, e.g. `{"users", "managers"}`: what the policy checks."""

    stands_in: frozenset[str] = frozenset()
    """The groups of people who delegated their right to decide to this one, now
    (`signoff.governance.delegation`): they may see what those groups may see. Deciding on
    someone's behalf is checked against the delegations themselves, never against this."""

    def as_auth_user(self) -> dict[str, Any]:
        """The user object the LangGraph server stores with each run (`langgraph_auth_user`)."""
        return {
            "identity": self.user,
            "display_name": self.user,
            "groups": sorted(self.groups),
            "permissions": [f"group:{group}" for group in sorted(self.groups)],
            "stands_in": sorted(self.stands_in),
        }


class UnknownToken(Exception):
    """The token does not identify anyone (expired, revoked or made up)."""


class UnknownUser(LookupError):
    """No active user of the workspace has the user name asked for."""


TokenResolver = Callable[[str], Identity]

_cache: TTLCache[str, Identity] = TTLCache(maxsize=4096, ttl=CACHE_SECONDS)
_users: TTLCache[str, Identity] = TTLCache(maxsize=4096, ttl=CACHE_SECONDS)
_cache_lock = threading.Lock()


def resolve_token(token: str) -> Identity:
    """The identity `token` belongs to, from the configured resolver; raises `UnknownToken`.
    Blocking (it may call the workspace): call it off the event loop."""
    if not token.strip():
        raise UnknownToken("The bearer token is empty.")
    if token.startswith(ACTING_TOKEN_PREFIX):
        raise UnknownToken(
            "this is a token the server made to answer one Slack click; it signs nobody in"
        )
    return _resolved(token)


@cached(_cache, key=lambda token: hashlib.sha256(token.encode()).hexdigest(), lock=_cache_lock)
def _resolved(token: str) -> Identity:
    """The configured resolver's identity for `token`, cached for `CACHE_SECONDS` under a hash
    of it (a refusal is not cached)."""
    return configured_resolver()(token)


def configured_resolver() -> TokenResolver:
    """`SIGNOFF_IDENTITY_RESOLVER`'s function, else `databricks_identity`."""
    path = environment().identity_resolver
    if not path:
        return databricks_identity
    module, _, name = path.partition(":")
    if not module or not name:
        raise ValueError('SIGNOFF_IDENTITY_RESOLVER must look like "package.module:function".')
    return getattr(importlib.import_module(module), name)


def databricks_identity(token: str) -> Identity:
    """The workspace's own answer for `token`: `current_user.me()`, user name and groups."""
    from databricks.sdk import WorkspaceClient  # slow to import: not at server start
    from databricks.sdk.errors import PermissionDenied, Unauthenticated

    host = workspace_client().config.host  # the workspace the agents use (or the emulator)
    try:
        me = WorkspaceClient(host=host, token=token, auth_type="pat").current_user.me()
    except (Unauthenticated, PermissionDenied) as error:
        raise UnknownToken(f"The workspace at {host} does not accept this token: {error}") from None
    if not me.user_name:
        raise UnknownToken(f"The workspace at {host} names no user for this token.")
    groups = frozenset(group.display for group in me.groups or [] if group.display)
    return Identity(user=me.user_name, groups=groups)


@cached(_users, key=lambda user_name: user_name.casefold(), lock=_cache_lock)
def workspace_user(user_name: str) -> Identity:
    """The active workspace user whose user name is `user_name` (an email; compared ignoring
    case), with their groups, as the server's own workspace client reads them (SCIM users,
    `userName eq`); raises `UnknownUser`. Cached for `CACHE_SECONDS`. Blocking."""
    key = user_name.casefold()
    workspace = workspace_client()
    found = [
        user
        for user in workspace.users.list(
            filter=f"userName eq {json.dumps(user_name)}", attributes="userName,groups,active"
        )
        if (user.user_name or "").casefold() == key and user.active is not False
    ]
    if len(found) != 1 or not found[0].user_name:
        raise UnknownUser(
            f"no active user of the workspace at {workspace.config.host} has the user name "
            f"{user_name!r}"
        )
    groups = frozenset(group.display for group in found[0].groups or [] if group.display)
    return Identity(user=found[0].user_name, groups=groups)


def caller_identity() -> Identity | None:
    """The caller of the current Model Serving request, from on-behalf-of-user credentials
    (`ModelServingUserCredentials`); `None` outside Model Serving, where there is no caller to
    speak for (its credentials would be the service's own)."""
    from databricks.sdk import WorkspaceClient
    from databricks_ai_bridge.model_serving_obo_credential_strategy import (
        ModelServingUserCredentials,
        should_fetch_model_serving_environment_oauth,
    )

    if not should_fetch_model_serving_environment_oauth():
        return None
    client = WorkspaceClient(credentials_strategy=ModelServingUserCredentials())
    scheme, _, token = client.config.authenticate().get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise UnknownToken("Model Serving gave no on-behalf-of-user token for this request.")
    return resolve_token(token)


API_KEY_HEADER = "x-api-key"
"""The header a client that cannot send `Authorization` puts its token in (Agent Inbox sends
its "LangSmith API Key" field so)."""


def token_in(headers: Mapping[str, str]) -> str | None:
    """The token an HTTP request's `headers` present (`presented_token`)."""
    return presented_token(headers.get("authorization"), headers.get(API_KEY_HEADER))


def presented_token(authorization: str | None, api_key: str | None) -> str | None:
    """The token a request presents: `Authorization: Bearer <token>`, else, only when there is
    no `Authorization` header at all, `x-api-key: <token>`; `None` for neither (or for an
    `Authorization` of another scheme, which no key overrides)."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None
    return (api_key or "").strip() or None


def run_thread_id(config: RunnableConfig | None = None) -> str:
    """The thread the run of `config` (by default, the running graph's) works on; `""` outside
    a thread (a stateless run, a bare `invoke`)."""
    configurable = (config if config is not None else get_config()).get("configurable") or {}
    return str(configurable.get("thread_id") or "")


def run_graph_id(config: RunnableConfig) -> str:
    """The graph the run of `config` belongs to: the server's `graph_id`, else the run's name."""
    configurable, metadata = config.get("configurable") or {}, config.get("metadata") or {}
    return str(
        configurable.get("graph_id") or metadata.get("graph_id") or config.get("run_name") or ""
    )


def run_identity(config: RunnableConfig) -> Identity | None:
    """Who started the run of `config`, as the server's auth (or `SignoffAgent`) resolved it;
    `None` without auth, for Studio's bypass user and for in-process `/noauth` calls."""
    return identity_of((config.get("configurable") or {}).get("langgraph_auth_user"))


def auth_user_fields(user: Any) -> Mapping[str, Any]:
    """The fields of a server user object (its `dict()`), or of its dict; empty for anything
    else."""
    if user is not None and not isinstance(user, Mapping):
        user = user.dict() if callable(getattr(user, "dict", None)) else None  # server's user
    return user if isinstance(user, Mapping) else {}


def identity_of(user: Any) -> Identity | None:
    """The `Identity` in a server user object (or its dict), `None` for anyone else."""
    user = auth_user_fields(user)
    if not user or user.get("kind") == "StudioUser":
        return None
    name, groups = user.get("identity"), user.get("groups")
    if not isinstance(name, str) or not name or not isinstance(groups, list | tuple):
        return None
    stands_in = user.get("stands_in")
    return Identity(
        user=name,
        groups=frozenset(str(group) for group in groups),
        stands_in=frozenset(map(str, stands_in)) if isinstance(stands_in, list) else frozenset(),
    )
