"""Errors as `langgraph_sdk` raises them, so callers of a `CheckpointClient` catch what they
catch from a LangGraph server's.

`api_error(status, detail)` is the SDK's own `APIStatusError` subclass for the status
(`NotFoundError`, `ConflictError`, ...), carrying a real `httpx.Response` whose JSON body is
`{"detail": detail}`: `error.response.status_code` and `error.response.json()["detail"]` read
as they do for a server's answer (`signoff.client.answering.server_message`). The routes send
the same status and body over HTTP.
"""

from __future__ import annotations

import httpx
from langgraph_sdk.errors import (
    APIStatusError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    UnprocessableEntityError,
)

from signoff.governance.identity import Identity
from signoff.governance.policy import HOW_TO_SIGN_IN
from signoff.governance.visibility import not_visible

_BY_STATUS: dict[int, type[APIStatusError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
}


def api_error(status: int, detail: str, method: str = "POST", path: str = "/") -> APIStatusError:
    """The error the SDK raises for a `status` answer with `{"detail": detail}`."""
    request = httpx.Request(method, f"http://checkpoint-api{path}")
    body = {"detail": detail}
    response = httpx.Response(status, json=body, request=request)
    return _BY_STATUS.get(status, APIStatusError)(detail, response=response, body=body)


def not_signed_in() -> APIStatusError:
    """401: a call with nobody signed in."""
    return api_error(401, f"Not signed in. {HOW_TO_SIGN_IN}")


def no_thread(thread_id: str, identity: Identity | None) -> APIStatusError:
    """404: a thread that does not exist or that `identity` may not see (the same answer)."""
    return api_error(404, not_visible(thread_id, identity))
