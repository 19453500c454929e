"""Who the emulated workspace is and who is calling it.

`GET /.well-known/databricks-config` is the host-metadata probe databricks-sdk makes (without
credentials) every time a `Config` is built; `GET /api/2.0/preview/scim/v2/Groups` is
`WorkspaceClient.groups.list()`: every group a user below is in (what `signoff policy check`
checks a policy's groups against); `GET /api/2.0/preview/scim/v2/Me` is
`WorkspaceClient.current_user.me()`, answered for the caller's bearer token;
`GET /api/2.0/preview/scim/v2/Users` is `WorkspaceClient.users.list()`: every user below, or
with `filter=userName eq "<name>"` the one of that user name (compared ignoring case, as SCIM
compares user names), paged as the groups are (how the server finds the person behind a
Slack click). Who calls:

- `DEV_TOKEN` is the service identity the agents use towards the workspace (`USER_NAME`);
- the development users' tokens (`DEV_USERS`, documented in the README) are people with
  Databricks groups, the roles signoff's policy names;
- any other token is unknown to `/Me` (401), so it authenticates nobody.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator.errors import ApiError, invalid_parameter

DEV_TOKEN = "dapi-signoff-emulator"
USER_NAME = "dev@signoff.local"
USER_ID = "4242424242424242"
WORKSPACE_ID = "1234567890123456"


@dataclass(frozen=True)
class DevUser:
    """A development user of the emulated workspace."""

    id: str
    user_name: str
    groups: tuple[str, ...]


DEV_USERS: dict[str, DevUser] = {
    "dapi-dev-alice": DevUser("1001", "alice@signoff.local", ("users",)),
    "dapi-dev-bob": DevUser("1002", "bob@signoff.local", ("users", "managers", "support-leads")),
    "dapi-dev-carol": DevUser(
        "1003", "carol@signoff.local", ("users", "security", "data-engineers")
    ),
    "dapi-dev-dave": DevUser("1004", "dave@signoff.local", ("users", "managers", "security")),
    "dapi-dev-erin": DevUser("1005", "erin@signoff.local", ("users", "signoff-admins")),
    "dapi-dev-frank": DevUser("1006", "frank@signoff.local", ("users", "finance")),
}
"""Bearer token → development user. These exact tokens are documented for people trying the
project: keep them."""

SERVICE_USER = DevUser(USER_ID, USER_NAME, ("users",))


def scim_user(user: DevUser = SERVICE_USER) -> dict[str, object]:
    """`user` as SCIM returns it."""
    given = user.user_name.split("@")[0].capitalize()
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": user.id,
        "userName": user.user_name,
        "displayName": "Signoff Developer" if user is SERVICE_USER else given,
        "name": {"givenName": given, "familyName": "Signoff"},
        "active": True,
        "emails": [{"value": user.user_name, "type": "work", "primary": True}],
        "groups": [
            {"display": group, "value": str(number), "$ref": f"Groups/{number}"}
            for number, group in enumerate(user.groups, start=1)
        ],
    }


def caller(request: Request) -> DevUser | None:
    """The user the request's bearer token belongs to, or `None` for an unknown token."""
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    if token == DEV_TOKEN:
        return SERVICE_USER
    return DEV_USERS.get(token)


async def _me(request: Request) -> Response:
    user = caller(request)
    if user is None:
        return ApiError(401, "UNAUTHENTICATED", "Invalid access token.").response()
    return JSONResponse(scim_user(user))


async def _groups(request: Request) -> Response:
    """A page of SCIM groups: `startIndex` (1-based) and `count`, as databricks-sdk pages."""
    if caller(request) is None:
        return ApiError(401, "UNAUTHENTICATED", "Invalid access token.").response()
    names = sorted({group for user in (SERVICE_USER, *DEV_USERS.values()) for group in user.groups})
    return _page(request, [{"id": str(n), "displayName": name} for n, name in enumerate(names, 1)])


_USER_NAME_IS = re.compile(r'^\s*userName\s+eq\s+("(?:[^"\\]|\\.)*")\s*$', re.IGNORECASE)
"""The one SCIM filter the emulator reads: `userName eq "<JSON string>"`."""


async def _users(request: Request) -> Response:
    """A page of SCIM users, all of them or those `filter=userName eq "<name>"` names."""
    if caller(request) is None:
        return ApiError(401, "UNAUTHENTICATED", "Invalid access token.").response()
    users = [SERVICE_USER, *DEV_USERS.values()]
    if (written := request.query_params.get("filter")) is not None:
        wanted = _user_name_in(written)
        if wanted is None:
            return invalid_parameter(
                f"Unsupported filter {written!r}: the emulator reads only "
                'userName eq "<user name>".'
            ).response()
        users = [user for user in users if user.user_name.casefold() == wanted.casefold()]
    return _page(request, [scim_user(user) for user in users])


def _user_name_in(written: str) -> str | None:
    """The user name a `userName eq "<name>"` filter names; `None` for any other filter."""
    match = _USER_NAME_IS.match(written)
    try:
        return str(json.loads(match[1])) if match else None
    except ValueError:  # an escape JSON does not know
        return None


def _page(request: Request, resources: list[dict[str, object]]) -> JSONResponse:
    """The page of `resources` the request's `startIndex` (1-based) and `count` ask for, as a
    SCIM list response; past the end, an empty page (where databricks-sdk stops paging)."""
    start = _whole(request.query_params.get("startIndex"), 1)
    count = _whole(request.query_params.get("count"), 100)
    page = resources[start - 1 : start - 1 + count]
    return JSONResponse(
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(resources),
            "startIndex": start,
            "itemsPerPage": len(page),
            "Resources": page,
        }
    )


def _whole(text: str | None, default: int) -> int:
    return int(text) if text and text.isdigit() and len(text) < 7 and int(text) > 0 else default


async def _host_metadata(_: Request) -> JSONResponse:
    return JSONResponse({"workspace_id": WORKSPACE_ID})


ROUTES = [
    Route("/.well-known/databricks-config", _host_metadata, methods=["GET"]),
    Route("/api/2.0/preview/scim/v2/Me", _me, methods=["GET"]),
    Route("/api/2.0/preview/scim/v2/Groups", _groups, methods=["GET"]),
    Route("/api/2.0/preview/scim/v2/Users", _users, methods=["GET"]),
]
