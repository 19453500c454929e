"""The Agent Bricks invocation API of one signoff graph: turns, answers and recovery.

    POST /api/invocations
    {"id": "<uuid>", "session_id": "<thread id>", "input": <input>}

`session_id` is the thread (required). `input` is what the graph starts with: its input
object (`{"operation": {...}}` for `approve_reject`), or `{"messages": [...]}` (or the bare
list) for the agents; or `{"resume": <answer>}`, one answer (any form of the answer grammar)
for every request the thread waits on, or `{"<interrupt id>": <answer>, ...}` for some of them.
A body over `MAX_BODY_BYTES` is a 413; one that is no such object, or whose input is out of
`signoff.protocol.bounds` (JSON nested deeper than the parser goes included), a 422 saying what
is taken; nothing a client sends makes a 500.

The caller is who the request's headers sign in (`signoff.apps.identity`): `StampCaller`, an
ASGI middleware in front of `/api/invocations`, resolves them and writes the caller's user
name and groups into the input under `CALLER` (whatever a client sent there is overwritten;
the token is never written, since the Runtime Store keeps inputs). The hooks
(`Invocations.invoke`, `.recover`) read the caller there and act as them through
`CheckpointApi.client(identity)`, whose runs meet the LangGraph server's admission, policy,
four-eyes and audit unchanged.

The result, and the events streamed on the way, as the Agent Bricks LangGraph template has
them: a `{"type": "message", "message": ...}` per new message, a
`{"type": "interrupt", "id": ..., "value": <the approval request>}` per pending request, and
`{"output": [<messages>, <interrupt events>], "status": "interrupted" | "completed",
"values": <the thread's state but its messages>}`. A refusal (four-eyes, not a decider, a
thread that is not the caller's) is the HTTP error status of the server's refusal with its
words: `{"error": {"code": "SIGNOFF_REFUSED", "message": ...}}`, said in the invocation API's
terms (`{"resume": ...}`, not the LangGraph API's `command.resume`); nothing changes and the
request stays pending. A thread the caller may not see is a 404 in
`signoff.governance.visibility.not_visible`'s words, whether or not it exists. An input the
graph cannot run is a 422 (`SIGNOFF_RUN_FAILED`, or `SIGNOFF_BAD_INPUT` for an input that is
no object), an answer to a thread that waits for nothing a 409 (`SIGNOFF_NOTHING_PENDING`), a
call without credentials a 401 (`SIGNOFF_UNAUTHENTICATED`, saying what to send).

An invocation's status and events (`GET /api/invocations/{id}`, `.../events`) are served only
to its caller or to someone who may see its thread now; to anyone else it is a 404, as for an
id nobody used.

Recovery (`@app.recover`, after a worker died mid-invocation): never applies the input again.
A run that stopped between an approval and its execution is run on from its checkpoint
(`signoff.client.pending_requests.run_on_reason` "finish"), which runs what was approved once;
the result shows the thread as it is then, so an answer that never arrived is seen to be
still pending and is sent again by its person.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import httpx
from databricks_agentkit.runtime.auth import AuthError
from databricks_agentkit.runtime.store import RuntimeStore
from databricks_agentkit.runtime.types import Invocation, InvocationContext, JsonValue
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import Command
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signoff.apps.identity import HOW_TO_CALL, caller_of
from signoff.checkpoints.api import CheckpointApi, as_sdk
from signoff.checkpoints.routes import MAX_BODY_BYTES, TOO_LARGE
from signoff.client.answering import Refused, continue_thread, server_message
from signoff.client.pending_requests import run_on_reason
from signoff.governance.identity import Identity, UnknownToken
from signoff.governance.visibility import not_visible
from signoff.protocol.bounds import MAX_DEPTH, check_bounds

INVOCATIONS = "/api/invocations"
T = TypeVar("T")
CALLER = "signoff_caller"
"""The input field the server writes the caller into: `{"user": ..., "groups": [...]}`."""
IN_INVOCATION_TERMS = {
    "(command.resume)": '(an invocation on this session_id with input {"resume": <answer>})',
    "command.resume": 'input {"resume": <answer>}',
}
"""The LangGraph API's words in the server's refusals, and what the invocation API takes."""
REQUEST_SHAPE = (
    'Send a JSON object {"id": "<uuid>", "session_id": "<thread id>", "input": <input>} '
    '(and, if you like, "stream" and "background": true or false).'
)
"""What the invocation API takes, as its refusals say it."""
FLAGS = ("stream", "background")


class StampCaller:
    """ASGI middleware: every call of the invocation API signs in (`caller_of`; 401 saying
    what to send), a new invocation's input carries its caller under `CALLER`, and an
    invocation's status and events are served only to who may read them
    (`Invocations.may_read`; anyone else gets the 404 of an unknown id)."""

    def __init__(self, app: ASGIApp, invocations: Invocations, runtime_store: RuntimeStore) -> None:
        self.app = app
        self.invocations = invocations
        self.runtime_store = runtime_store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Sign the call in; stamp a new invocation's input with its caller; serve a stored
        invocation only to who may read it."""
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not path.startswith(INVOCATIONS):
            await self.app(scope, receive, send)
            return
        try:
            caller = await caller_of(Headers(scope=scope))
        except UnknownToken as unknown:
            await error_response(401, "SIGNOFF_UNAUTHENTICATED", str(unknown))(scope, receive, send)
            return
        if scope["method"] != "POST" or path.rstrip("/") != INVOCATIONS:
            invocation_id = _invocation_id(path)
            identity = caller.identity
            if invocation_id is not None and not await self.invocations.may_read(
                identity, await self.runtime_store.get(invocation_id)
            ):
                message = (
                    f"There is no invocation {invocation_id} that {identity.user} may see: an "
                    "invocation is shown to its caller and to whoever may see its thread."
                )
                await error_response(404, "SIGNOFF_NOT_FOUND", message)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        body = await _body(receive)
        if body is None:
            await error_response(413, "SIGNOFF_TOO_LARGE", TOO_LARGE)(scope, receive, send)
            return
        try:
            stamped = stamped_request(body, caller.identity)
        except ValueError as bad:
            await error_response(422, "SIGNOFF_BAD_INPUT", str(bad))(scope, receive, send)
            return
        headers = MutableHeaders(scope=scope)
        headers["content-length"] = str(len(stamped))
        await self.app(scope, _replay(stamped, receive), send)


def _invocation_id(path: str) -> str | None:
    """The invocation id `path` reads (`/api/invocations/<id>` or `.../<id>/events`), as the
    runtime keys it; `None` for another path or an id that is no UUID (the runtime refuses it)."""
    parts = path[len(INVOCATIONS) :].strip("/").split("/")
    if not 1 <= len(parts) <= 2 or parts[1:] not in ([], ["events"]):
        return None
    return _uuid(parts[0])


def _uuid(text: Any) -> str | None:
    """`text` as the runtime keys a UUID; `None` when it is no UUID's text."""
    try:
        return str(uuid.UUID(text)) if isinstance(text, str) else None
    except ValueError:
        return None


def stamped_request(body: bytes, identity: Identity) -> bytes:
    """The invocation request `body` with its input carrying `identity` under `CALLER`
    (a bare message list becomes `{"messages": [...]}`); raises `ValueError` saying what is
    taken for a body that is no invocation request (`REQUEST_SHAPE`) or an input that is not
    an object or a list, or is out of `signoff.protocol.bounds`."""
    try:
        request = json.loads(body)
    except RecursionError:
        raise ValueError(
            f"The body is nested too deep; send JSON nested at most {MAX_DEPTH} levels deep."
        ) from None
    except ValueError:
        raise ValueError(f"The body is not JSON. {REQUEST_SHAPE}") from None
    if not isinstance(request, dict):
        raise ValueError(f"The body is not a JSON object. {REQUEST_SHAPE}")
    _check_shape(request)
    given = request.get("input", [])
    payload = {"messages": given} if isinstance(given, list) else given
    if not isinstance(payload, dict):
        raise ValueError(
            'input must be an object: the graph\'s input, {"messages": [...]} or '
            '{"resume": <answer>}.'
        )
    check_bounds(payload, "input")
    payload[CALLER] = {"user": identity.user, "groups": sorted(identity.groups)}
    return json.dumps({**request, "input": payload}).encode()


def _check_shape(request: dict[str, Any]) -> None:
    """Raise `ValueError` saying what is taken unless `request` has the invocation API's
    fields, each of its type."""
    unknown = sorted(set(request) - {"id", "session_id", "input", *FLAGS})
    if unknown:
        raise ValueError(f"Unknown field(s) {', '.join(map(repr, unknown))}. {REQUEST_SHAPE}")
    if _uuid(request.get("id")) is None:
        raise ValueError(f"id must be a UUID (text). {REQUEST_SHAPE}")
    session_id = request.get("session_id")
    if not isinstance(session_id, str) or not session_id:
        raise ValueError(f"session_id (the thread id) must be non-empty text. {REQUEST_SHAPE}")
    if any(not isinstance(request.get(flag, False), bool) for flag in FLAGS):
        raise ValueError(f"stream and background must be true or false. {REQUEST_SHAPE}")


class Invocations:
    """The `@app.invoke` and `@app.recover` hooks for graph `graph`, acting through the
    checkpoint API the app opens as it starts (`use`)."""

    def __init__(self, graph: str) -> None:
        self.graph = graph
        self._api: CheckpointApi | None = None

    def use(self, api: CheckpointApi | None) -> None:
        """Act through `api` from now on (`None`: the app is stopping)."""
        self._api = api

    async def may_read(self, identity: Identity, invocation: Invocation | None) -> bool:
        """Whether `identity` may read `invocation`'s status and events: it is theirs (its
        stored input's caller), or they may see its thread now."""
        if invocation is None:
            return False
        request = invocation.request
        given = request.get("input") if isinstance(request, dict) else None
        caller = given.get(CALLER) if isinstance(given, dict) else None
        if isinstance(caller, dict) and caller.get("user") == identity.user:
            return True
        if not invocation.session_id or self._api is None:
            return False
        try:
            await self._client(identity).threads.get(invocation.session_id)
        except httpx.HTTPStatusError:  # the SDK's errors are these too
            return False
        return True

    async def invoke(self, value: JsonValue, context: InvocationContext) -> JsonValue:
        """Run a turn, or answer what the thread waits for, as the invocation's caller."""
        payload, identity, thread_id = self._read(value, context)
        client = self._client(identity)
        before = await _refusing(_state_or_none(client, thread_id))
        if "resume" in payload:
            if before is None:
                raise AuthError("SIGNOFF_REFUSED", not_visible(thread_id, identity), 404)
            if not before.get("interrupts"):
                raise AuthError(
                    "SIGNOFF_NOTHING_PENDING",
                    f"Thread {thread_id} waits for no decision: start it with an input "
                    "instead of a resume.",
                    409,
                )
            command = Command(resume=resume_map(payload["resume"], before["interrupts"]))
            await self._run(client, thread_id, command=command)
        else:
            if before is None:  # a thread the caller may not see is a 404, as if there were none
                await _refusing(
                    client.threads.create(
                        thread_id=thread_id, graph_id=self.graph, if_exists="do_nothing"
                    )
                )
            await self._run(client, thread_id, input=payload)
        return await self._reply(client, thread_id, before, context)

    async def recover(self, value: JsonValue, context: InvocationContext) -> JsonValue:
        """After a worker died mid-invocation: run on a run that stopped after an approval
        (what was approved runs once), apply nothing again, and show the thread."""
        _, identity, thread_id = self._read(value, context)
        client = self._client(identity)
        if await _refusing(run_on_reason(client, thread_id)) == "finish":
            try:
                await continue_thread(client, thread_id)
            except Refused as refused:
                raise AuthError("SIGNOFF_REFUSED", str(refused), refused.status) from None
        return await self._reply(client, thread_id, None, context)

    async def _run(self, client: LangGraphClient, thread_id: str, **run: Any) -> None:
        """Run the thread to its end or next pause (a second run at once is refused: 409); a
        run that fails is the caller's error, with what failed."""
        result = await _refusing(
            client.runs.wait(
                thread_id, self.graph, multitask_strategy="reject", raise_error=False, **run
            )
        )
        error = result.get("__error__") if isinstance(result, dict) else None
        if isinstance(error, dict):
            raise AuthError(
                "SIGNOFF_RUN_FAILED",
                f"The run of {self.graph} failed ({error.get('error')}: {error.get('message')}); "
                "send an input the graph takes.",
                422,
            )

    def _client(self, identity: Identity) -> LangGraphClient:
        if self._api is None:
            raise AuthError("SIGNOFF_STARTING", "The app is not serving yet; try again.", 503)
        return as_sdk(self._api.client(identity))

    @staticmethod
    def _read(value: JsonValue, context: InvocationContext) -> tuple[dict[str, Any], Identity, str]:
        """The input without the caller, the caller, and the thread."""
        payload = dict(value) if isinstance(value, dict) else {}
        caller = payload.pop(CALLER, None)
        user = caller.get("user") if isinstance(caller, dict) else None
        if not isinstance(caller, dict) or not isinstance(user, str) or not user:
            raise AuthError(
                "SIGNOFF_UNAUTHENTICATED", f"The invocation has no signed-in caller. {HOW_TO_CALL}"
            )
        groups = caller.get("groups")
        identity = Identity(
            user=user,
            groups=frozenset(str(g) for g in groups) if isinstance(groups, list) else frozenset(),
        )
        if not context.session_id:
            raise AuthError(
                "SIGNOFF_BAD_INPUT",
                "session_id (the thread id) is required at the top level of the invocation.",
                422,
            )
        return payload, identity, context.session_id

    async def _reply(
        self,
        client: LangGraphClient,
        thread_id: str,
        before: Mapping[str, Any] | None,
        context: InvocationContext,
    ) -> JsonValue:
        """Emit the new messages and the pending requests; the invocation's result."""
        after = await _refusing(client.threads.get_state(thread_id))
        events = reply_events(before, after)
        for event in events:
            await context.emit(event)
        values = after.get("values")
        return {
            "output": [e["message"] if e["type"] == "message" else e for e in events],
            "status": "interrupted" if after.get("interrupts") else "completed",
            "values": {k: v for k, v in values.items() if k != "messages"}
            if isinstance(values, dict)
            else {},
        }


def resume_map(answer: Any, interrupts: list[dict[str, Any]]) -> dict[str, Any]:
    """The resume command's value: `answer` itself when it is keyed by pending interrupt ids,
    else `answer` for every pending interrupt."""
    pending = [str(item["id"]) for item in interrupts]
    if isinstance(answer, dict) and answer and set(answer) <= set(pending):
        return answer
    return {interrupt_id: answer for interrupt_id in pending}


def reply_events(
    before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The messages `after` has that `before` had not, then one event per pending request."""
    seen = {m.get("id") for m in _messages(before) if m.get("id")}
    return [
        *({"type": "message", "message": m} for m in _messages(after) if m.get("id") not in seen),
        *(
            {"type": "interrupt", "id": item["id"], "value": item["value"]}
            for item in after.get("interrupts") or []
        ),
    ]


def _messages(state: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    values = (state or {}).get("values")
    messages = values.get("messages") if isinstance(values, dict) else None
    return [m for m in messages or [] if isinstance(m, dict)]


async def _state_or_none(client: LangGraphClient, thread_id: str) -> Any:
    """The thread's state, `None` when there is no such thread (a 404)."""
    try:
        return await client.threads.get_state(thread_id)
    except httpx.HTTPStatusError as error:
        if error.response.status_code == 404:
            return None
        raise


async def _refusing(call: Awaitable[T]) -> T:
    """`call`'s result; a refusal of the server becomes the caller's error, in its words, said
    as the invocation API takes it (`invocation_terms`)."""
    try:
        return await call
    except httpx.HTTPStatusError as error:
        status = error.response.status_code
        message = invocation_terms(server_message(error))
        raise AuthError(
            "SIGNOFF_REFUSED", message, status if 400 <= status < 500 else 500
        ) from None


def invocation_terms(message: str) -> str:
    """`message` (a refusal of the LangGraph API) with its words for what to send replaced by
    the invocation API's (`IN_INVOCATION_TERMS`)."""
    for langgraph, invocation in IN_INVOCATION_TERMS.items():
        message = message.replace(langgraph, invocation)
    return message


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """An error as the Agent Bricks runtime shows its own: `{"error": {"code", "message"}}`."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def _body(receive: Receive) -> bytes | None:
    """The request's body; `None` once it is over `MAX_BODY_BYTES` (the rest is not read)."""
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES:
            return None
        if not message.get("more_body"):
            return bytes(body)


def _replay(body: bytes, rest: Receive) -> Receive:
    """`body` as the request's one message, then what the client sends next (its
    disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await rest()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
