"""The caller of a Model Serving request, in process: how the scoring server hands it over.

Databricks Model Serving with on-behalf-of-user authorization runs each request with the
caller's token where `ModelServingUserCredentials` reads it (the serving environment
variables, and the invoker's token in the main thread's data). `calling_as` does exactly that
for a development user of the emulator; `caller_for` picks who would send a request: alice
for new turns, for answers a user the policy lets decide the thread's pending request.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.types.responses import ResponsesAgentResponse

from signoff.serving import SignoffAgent
from tests.dev_users import TOKENS, decider_for
from tests.webhook_receiver import LoopbackServer


@contextmanager
def serving_environment(host: str) -> Iterator[None]:
    """Behave as Model Serving with on-behalf-of-user authorization, for workspace `host`."""
    saved = {
        k: os.environ.get(k) for k in ("IS_IN_DB_MODEL_SERVING_ENV", "DB_MODEL_SERVING_HOST_URL")
    }
    os.environ["IS_IN_DB_MODEL_SERVING_ENV"] = "true"
    os.environ["DB_MODEL_SERVING_HOST_URL"] = host
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        threading.main_thread().__dict__.pop("invokers_token", None)


def calling_as(name: str) -> None:
    """Make development user `name` the caller of the next requests."""
    threading.main_thread().__dict__["invokers_token"] = TOKENS[name]


def caller_for(agent: SignoffAgent, request: dict[str, Any]) -> str:
    """Who sends `request`: a permitted decider when it answers a pending request (with
    `custom_inputs.decision(s)` or `mcp_approval_response` items), else alice."""
    inputs = request.get("custom_inputs") or {}
    approving = any(
        isinstance(item, dict) and item.get("type") == "mcp_approval_response"
        for item in request.get("input") or []
    )
    answering = approving or "decision" in inputs or "decisions" in inputs
    if answering and inputs.get("thread_id"):
        config = {"configurable": {"thread_id": inputs["thread_id"]}}
        pending = agent.open().get_state(config).interrupts
        if pending:
            return decider_for(pending[0].value)
    return "alice"


def text_of(response: ResponsesAgentResponse) -> str:
    """The text of the reply's one message item, its first (the approval request items follow
    it). MLflow's own `output_text` cannot read it: it expects content objects, and an
    `OutputItem` keeps its content as dicts."""
    [message] = [item for item in response.output if item.type == "message"]
    assert response.output[0] == message
    return message.model_dump()["content"][0]["text"]


class ServingEndpoint(LoopbackServer):
    """`agent` served over HTTP on a free loopback port, as a Model Serving endpoint serves it
    to OpenAI clients (`base_url`: `<url>/serving-endpoints`, `POST .../responses`): the
    bearer token of each request is its caller's on-behalf-of-user token, the body is the
    agent's request, its response the body of the answer. A request the agent refuses
    (`ValueError`, `PermissionError`, or MLflow's `MlflowException` for a body its types cannot
    read) is a 400 `{"error_code", "message"}`. One request at a time: the caller's token is
    process-wide."""

    def __init__(self, agent: SignoffAgent) -> None:
        super().__init__(self._handler())
        self.agent = agent
        self._serving = threading.Lock()

    @property
    def url(self) -> str:
        """The workspace URL the endpoint answers at, e.g. `http://127.0.0.1:<port>`."""
        return self.base_url

    def answer(self, token: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Serve `body` as the caller whose bearer token is `token`: status and JSON."""
        with self._serving:
            threading.main_thread().__dict__["invokers_token"] = token
            try:
                reply = self.agent.predict(body)
            except (ValueError, PermissionError, MlflowException) as refused:
                message = refused.message if isinstance(refused, MlflowException) else refused
                return 400, {"error_code": "BAD_REQUEST", "message": str(message)}
            return 200, reply.model_dump(exclude_none=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if self.path.rstrip("/") != "/serving-endpoints/responses":
                    status, answer = 404, {"error_code": "NOT_FOUND", "message": self.path}
                else:
                    status, answer = endpoint.answer(token, body)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: object) -> None:
                """Quiet."""

        return Handler
