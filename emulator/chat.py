"""Model serving: OpenAI-format `POST /serving-endpoints/chat/completions`.

This is what `ChatDatabricks` (through databricks-openai's `DatabricksOpenAI`) calls, and all it
calls. Replies come from `responder.respond`, a rule-based DEVELOPMENT MODEL, not an LLM, calling
the tools `EmulatorSettings.dev_model_tools` names; every response names it in `model`. With
`"stream": true` the reply is sent as server-sent `chat.completion.chunk` events: the content
in a few deltas, each tool call as a name chunk then argument fragments, a finish chunk, a
usage chunk, then `data: [DONE]`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from emulator.errors import ApiError, invalid_parameter, json_body
from emulator.responder import MODEL_NAME, SIGNOFF_TOOLS, DevModelTools, respond


def _split(text: str, parts: int) -> list[str]:
    """`text` cut into at most `parts` consecutive pieces."""
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _usage(messages: list[dict[str, Any]], reply: dict[str, Any]) -> dict[str, int]:
    """Word counts standing in for token counts."""
    prompt = sum(len(str(message.get("content") or "").split()) for message in messages)
    completion = len(str(reply.get("content") or "").split()) + sum(
        len(call["function"]["arguments"].split()) for call in reply.get("tool_calls", [])
    )
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class Chat:
    """The serving endpoints answered by the development model."""

    def __init__(
        self, endpoints: tuple[str, ...], tool_names: DevModelTools = SIGNOFF_TOOLS
    ) -> None:
        self.endpoints = endpoints
        self.tool_names = tool_names

    def routes(self) -> list[Route]:
        """The chat completions route."""
        return [Route("/serving-endpoints/chat/completions", self._completions, methods=["POST"])]

    async def _completions(self, request: Request) -> Response:
        body = await json_body(request)
        if body.get("model") not in self.endpoints:
            raise ApiError(
                404,
                "RESOURCE_DOES_NOT_EXIST",
                f"The given endpoint {body.get('model')!r} does not exist. This workspace "
                f"emulator serves: {', '.join(self.endpoints)}.",
            )
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise invalid_parameter("messages must be a non-empty list.")
        if not all(isinstance(message, dict) for message in messages):
            raise invalid_parameter("every message must be an object with a role and content.")
        reply = respond(messages, body.get("tools"), self.tool_names)
        envelope = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "created": int(time.time()),
            "model": MODEL_NAME,
        }
        finish = "tool_calls" if reply.get("tool_calls") else "stop"
        usage = _usage(messages, reply)
        if body.get("stream"):
            events = _stream(envelope, reply, finish, usage)
            return StreamingResponse(events, media_type="text/event-stream")
        return JSONResponse(
            {
                **envelope,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": reply, "finish_reason": finish}],
                "usage": usage,
            }
        )


def _stream(
    envelope: dict[str, Any], reply: dict[str, Any], finish: str, usage: dict[str, int]
) -> Iterator[str]:
    """The reply as server-sent chat.completion.chunk events."""

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return {**envelope, "object": "chat.completion.chunk", "choices": [choice]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": piece}) for piece in _split(reply.get("content") or "", 4)]
    for index, call in enumerate(reply.get("tool_calls", [])):
        function = call["function"]
        chunks.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": function["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        chunks += [
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            for piece in _split(function["arguments"], 2)
        ]
    chunks.append(chunk({}, finish))
    chunks.append({**envelope, "object": "chat.completion.chunk", "choices": [], "usage": usage})
    for event in chunks:
        yield f"data: {json.dumps(event)}\n\n"
    yield "data: [DONE]\n\n"
