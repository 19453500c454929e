"""`langgraph_api_routes`: the calls of `CheckpointClient` over HTTP, at the paths and in the
JSON shapes `langgraph_sdk` uses, so that `langgraph_sdk.get_client(url=<app>, headers=
{"Authorization": "Bearer <token>"})`, and with it `signoff --url <app> pending`, `show`,
`approve` and the inbox, work against a deployment that serves threads from a checkpoint store.

Every request is signed in by the deployment's `authenticate` (a token it cannot resolve:
401 saying how to sign in) and answered by `api.client(<that identity>)`, so the same
visibility, admission and leases apply as in process. Errors are `{"detail": ...}` with the
status the LangGraph server gives; a body that is not what a call takes is a 422 naming what
it accepts (JSON nested deeper than the parser goes included), a body over `MAX_BODY_BYTES`
is a 413; nothing a client sends makes a 500.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from langgraph_sdk.errors import APIStatusError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from signoff.checkpoints.api import CheckpointApi, CheckpointClient
from signoff.checkpoints.errors import api_error
from signoff.governance.identity import Identity, UnknownToken
from signoff.governance.policy import HOW_TO_SIGN_IN
from signoff.protocol.bounds import MAX_DEPTH

MAX_BODY_BYTES = 1024 * 1024
"""The largest request body read (each value in it is bounded further by
`signoff.protocol.bounds`)."""
TOO_LARGE = f"The body is over {MAX_BODY_BYTES} bytes; send at most {MAX_BODY_BYTES}."
"""The refusal (413) of a larger body."""

Handler = Callable[[CheckpointClient, Request, dict[str, Any]], Awaitable[Any]]

SEARCH_FIELDS = (
    "metadata",
    "values",
    "ids",
    "status",
    "limit",
    "offset",
    "sort_by",
    "sort_order",
    "select",
    "extract",
)
RUN_FIELDS = (
    "input",
    "command",
    "config",
    "context",
    "metadata",
    "interrupt_before",
    "interrupt_after",
    "checkpoint",
    "checkpoint_id",
    "multitask_strategy",
    "if_not_exists",
)
"""What a run here reads of a run body, beside `assistant_id` (the SDK's other fields, such as
`stream_mode` or `on_completion`, change nothing here and are ignored)."""


def langgraph_api_routes(
    api: CheckpointApi, authenticate: Callable[[Request], Awaitable[Identity]]
) -> list[BaseRoute]:
    """Starlette routes serving, over HTTP, what langgraph_sdk calls for the CheckpointClient
    methods: POST /threads, POST /threads/search, GET /threads/{thread_id}, GET
    /threads/{thread_id}/state, POST /threads/{thread_id}/history, POST
    /threads/{thread_id}/runs, POST /threads/{thread_id}/runs/wait. `authenticate` resolves
    the caller (raises signoff.governance.identity.UnknownToken → 401 naming how to sign in);
    so `signoff --url <app> pending`, `approve`, and the inbox's `own_api` work against an
    App."""

    def route(path: str, method: str, handler: Handler, body: bool) -> Route:
        async def endpoint(request: Request) -> JSONResponse:
            try:
                identity = await authenticate(request)
            except UnknownToken as error:
                return _error(401, f"Not signed in ({error}). {HOW_TO_SIGN_IN}")
            try:
                payload = await _body(request) if body else {}
                result = await handler(api.client(identity), request, payload)
            except APIStatusError as error:
                return JSONResponse(error.body, status_code=error.status_code)
            return JSONResponse(result)

        return Route(path, endpoint, methods=[method])

    return [
        route("/threads", "POST", _create, body=True),
        route("/threads/search", "POST", _search, body=True),
        route("/threads/{thread_id}", "GET", _get, body=False),
        route("/threads/{thread_id}/state", "GET", _state, body=False),
        route("/threads/{thread_id}/history", "POST", _history, body=True),
        route("/threads/{thread_id}/runs", "POST", _run_create, body=True),
        route("/threads/{thread_id}/runs/wait", "POST", _run_wait, body=True),
    ]


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object a request sends (an empty body is `{}`); 413 over `MAX_BODY_BYTES`,
    422 for anything else."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise api_error(413, TOO_LARGE)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except RecursionError:
        raise _bad(
            f"The body is nested too deep; send JSON whose values nest at most {MAX_DEPTH} "
            "levels deep."
        ) from None
    except ValueError:
        raise _bad("The body is not JSON; send a JSON object.") from None
    if not isinstance(body, dict):
        raise _bad("The body must be a JSON object.")
    return body


def _fields(
    body: dict[str, Any], accepted: tuple[str, ...], ignored: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The fields of `body` a call reads; 422 naming the accepted ones for any other."""
    unknown = sorted(set(body) - set(accepted) - set(ignored))
    if unknown:
        raise _bad(
            f"Unknown field(s) {', '.join(unknown)}; this call accepts {', '.join(accepted)}."
        )
    return {key: value for key, value in body.items() if key in accepted}


def _bad(detail: str) -> APIStatusError:
    return api_error(422, detail)


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _thread_id(request: Request) -> str:
    return str(request.path_params["thread_id"])


async def _create(client: CheckpointClient, _: Request, body: dict[str, Any]) -> Any:
    fields = _fields(body, ("thread_id", "metadata", "if_exists"), ignored=("supersteps", "ttl"))
    if body.get("supersteps"):
        raise _bad("Copying threads with supersteps is not served here; send no supersteps.")
    thread_id = fields.get("thread_id")
    if thread_id is not None and not isinstance(thread_id, str):
        raise _bad("thread_id must be text.")
    metadata = fields.get("metadata")
    graph_id = metadata.get("graph_id") if isinstance(metadata, dict) else None
    if isinstance(metadata, dict):
        metadata = {k: v for k, v in metadata.items() if k != "graph_id"}
    return await client.threads.create(
        thread_id=thread_id,
        metadata=metadata,
        if_exists=fields.get("if_exists"),
        graph_id=graph_id if isinstance(graph_id, str) else None,
    )


async def _search(client: CheckpointClient, _: Request, body: dict[str, Any]) -> Any:
    return await client.threads.search(**_fields(body, SEARCH_FIELDS))


async def _get(client: CheckpointClient, request: Request, _: dict[str, Any]) -> Any:
    return await client.threads.get(_thread_id(request))


async def _state(client: CheckpointClient, request: Request, _: dict[str, Any]) -> Any:
    return await client.threads.get_state(_thread_id(request))


async def _history(client: CheckpointClient, request: Request, body: dict[str, Any]) -> Any:
    fields = _fields(body, ("limit", "before"), ignored=("metadata", "checkpoint", "select"))
    return await client.threads.get_history(
        _thread_id(request), limit=fields.get("limit", 10), before=fields.get("before")
    )


def _run(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The assistant and the fields of a run body."""
    assistant = body.get("assistant_id")
    if not isinstance(assistant, str) or not assistant:
        raise _bad("assistant_id is required: the name of the graph to run.")
    return assistant, {key: value for key, value in body.items() if key in RUN_FIELDS}


async def _run_create(client: CheckpointClient, request: Request, body: dict[str, Any]) -> Any:
    assistant, run = _run(body)
    return await client.runs.create(_thread_id(request), assistant, **run)


async def _run_wait(client: CheckpointClient, request: Request, body: dict[str, Any]) -> Any:
    assistant, run = _run(body)
    return await client.runs.wait(_thread_id(request), assistant, raise_error=False, **run)
