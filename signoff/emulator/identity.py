"""Who the emulated workspace is and who is calling it.

`GET /.well-known/databricks-config` is the host-metadata probe databricks-sdk makes (without
credentials) every time a `Config` is built; `GET /api/2.0/preview/scim/v2/Me` is
`WorkspaceClient.current_user.me()`. Every token is the same single developer user.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

USER_NAME = "dev@signoff.local"
USER_ID = "4242424242424242"
WORKSPACE_ID = "1234567890123456"


def scim_user() -> dict[str, object]:
    """The calling user as SCIM returns it."""
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": USER_ID,
        "userName": USER_NAME,
        "displayName": "Signoff Developer",
        "name": {"givenName": "Signoff", "familyName": "Developer"},
        "active": True,
        "emails": [{"value": USER_NAME, "type": "work", "primary": True}],
        "groups": [{"display": "users", "value": "1", "$ref": "Groups/1"}],
    }


async def _me(_: Request) -> JSONResponse:
    return JSONResponse(scim_user())


async def _host_metadata(_: Request) -> JSONResponse:
    return JSONResponse({"workspace_id": WORKSPACE_ID})


ROUTES = [
    Route("/.well-known/databricks-config", _host_metadata, methods=["GET"]),
    Route("/api/2.0/preview/scim/v2/Me", _me, methods=["GET"]),
]
