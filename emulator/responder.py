"""signoff-dev-model: a deterministic, rule-based DEVELOPMENT MODEL. It is not a language model.

`respond(messages, tools)` takes an OpenAI-format conversation and tool list and returns one
OpenAI assistant message. Fixed regular expressions map requests to calls of the tools named by
`DevModelTools` (its defaults are the tool names of signoff's graphs: the emulator's one
contract with the product, kept in that one place):

- "start / run the nightly job [with key=value ...] [for ...]" → `DevModelTools.start_job`
- "status of / check / how is run 42" → `DevModelTools.poll_job`
- "cancel / stop / terminate run 42" → `DevModelTools.terminate_job`
- "look up order 17" → `DevModelTools.lookup_order`
- "refund 25 on order 17 because damaged", "refund order 17 for 25 (damaged)"
  → `DevModelTools.issue_refund`
- other questions ("how many ...", "what ...", "show ...", "list ...")
  → `DevModelTools.ask_genie`

Requests joined by " and " (or ";") become parallel tool calls in one message. A call is only
made when a tool of that name is offered; otherwise the answer says the tool is not available.
When the conversation ends with tool results, the answer is a short summary of them: what
started (with the run's link), what failed (quoting the tool) and what was not done and why.
The emulator's chat endpoint serves it; it imports nothing beyond the standard library.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

MODEL_NAME = "signoff-dev-model (rule-based development model)"
HELP = (
    "I am signoff-dev-model, a rule-based development model (not a language model). "
    "I understand: 'start the nightly job [with key=value ...]', 'status of run 42', "
    "'cancel run 42', 'look up order 17', 'refund 25 on order 17 because damaged', and "
    "questions about the orders data such as 'how many orders last week'. "
    "Join several requests with ' and '."
)

Message = dict[str, Any]


@dataclass(frozen=True)
class DevModelTools:
    """The tool names of signoff's graphs this model calls: the emulator's contract with the
    product, and the only place the emulator names them.

    A call is made only when the request offers a tool of that name. The defaults are the names
    signoff's tools have (`tools/databricks_jobs.py`, `tools/genie.py`, and the Unity Catalog
    functions as `UCFunctionToolkit` names them); rename one there and here together, or give
    the emulator others with `EmulatorSettings(dev_model_tools=DevModelTools(...))`.
    """

    start_job: str = "start_databricks_job"
    """Starts the nightly job: `{"user_request": ..., "parameters": {...}}`."""
    poll_job: str = "poll_databricks_job"
    """Reports a run's state: `{"run_id": ...}`."""
    terminate_job: str = "terminate_databricks_job"
    """Cancels a run: `{"run_id": ...}`."""
    lookup_order: str = "main__support__lookup_order"
    """The UC function `main.support.lookup_order`: `{"order_id": ...}`."""
    issue_refund: str = "main__support__issue_refund"
    """The UC function `main.support.issue_refund`: `{"order_id", "amount", "reason"}`."""
    ask_genie: str = "query_genie"
    """Asks the Genie space a data question: `{"question": ...}`."""


SIGNOFF_TOOLS = DevModelTools()
"""The names signoff's graphs use; what the emulator's chat endpoint answers with by default."""


@dataclass(frozen=True)
class _Rule:
    tool: str
    pattern: re.Pattern[str]
    arguments: Callable[[re.Match[str], str], dict[str, Any]]
    """(match, clause) → the call's arguments."""


def _reason(rest: str) -> str:
    reason = re.sub(r"^\s*(?:because(?: of)?|due to|for|reason:?|-)\s*", "", rest, flags=re.I)
    return reason.strip(" ().") or "not specified"


def _refund(match: re.Match[str], _: str) -> dict[str, Any]:
    return {
        "order_id": int(match["order_id"]),
        "amount": float(match["amount"]),
        "reason": _reason(match["rest"]),
    }


def _run(match: re.Match[str], _: str) -> dict[str, Any]:
    return {"run_id": int(match["run_id"])}


def _start_job(_: re.Match[str], clause: str) -> dict[str, Any]:
    arguments: dict[str, Any] = {"user_request": clause}
    pairs = re.findall(r"([A-Za-z_][\w.-]*)=(\"[^\"]*\"|'[^']*'|[^\s,;]+)", clause)
    if pairs:
        arguments["parameters"] = {key: value.strip("\"'").rstrip(".") for key, value in pairs}
    return arguments


_ORDER = r"order\s+#?(?P<order_id>\d+)"
_AMOUNT = r"\$?(?P<amount>\d+(?:\.\d+)?)"
_RUN = r"(?:the\s+)?run\s+#?(?P<run_id>\d+)"


@cache
def _rules(names: DevModelTools) -> tuple[_Rule, ...]:
    """The rules, first match wins, calling the tools `names` names."""
    return (
        _Rule(
            names.issue_refund,
            re.compile(rf"\brefund\s+{_AMOUNT}\s+(?:on|for|to)\s+{_ORDER}(?P<rest>.*)", re.I),
            _refund,
        ),
        _Rule(
            names.issue_refund,
            re.compile(rf"\brefund\s+{_ORDER}\s+(?:for|by|of)\s+{_AMOUNT}(?P<rest>.*)", re.I),
            _refund,
        ),
        _Rule(
            names.lookup_order,
            re.compile(rf"\b(?:look\s*up|find|fetch|get|details\s+(?:of|for))\s+{_ORDER}", re.I),
            lambda match, _: {"order_id": int(match["order_id"])},
        ),
        _Rule(
            names.terminate_job,
            re.compile(rf"\b(?:cancel|stop|terminate|abort|kill)\s+{_RUN}", re.I),
            _run,
        ),
        _Rule(
            names.poll_job,
            re.compile(rf"\b(?:status\s+of|check(?:\s+on)?|how\s+is|how's|poll)\s+{_RUN}", re.I),
            _run,
        ),
        _Rule(
            names.start_job,
            re.compile(r"\b(?:start|run|kick\s+off|trigger|launch)\s+(?:the\s+)?nightly\b", re.I),
            _start_job,
        ),
        _Rule(
            names.ask_genie,
            re.compile(
                r"^(?:please\s+|can\s+you\s+|could\s+you\s+)?"
                r"(?:how|what|which|who|when|show|total|list|count|give\s+me|tell\s+me)\b|\?$",
                re.I,
            ),
            lambda _, clause: {"question": clause},
        ),
    )


_CLAUSE_BREAK = re.compile(
    r"\s*;\s*|\s+and\s+(?:then\s+)?(?=(?:please\s+)?(?:start|run|kick|trigger|launch|cancel|stop"
    r"|terminate|abort|kill|check|status|poll|how|what|which|who|when|show|list|total|count"
    r"|look|lookup|find|fetch|get|refund|tell|give)\b)",
    re.I,
)


@cache
def _actions(names: DevModelTools) -> dict[str, Callable[[dict[str, Any]], str]]:
    """What a call of each tool does, in words, by tool name."""
    return {
        names.start_job: lambda _: "start the nightly job",
        names.poll_job: lambda args: f"check run {args.get('run_id')}",
        names.terminate_job: lambda args: f"cancel run {args.get('run_id')}",
        names.lookup_order: lambda args: f"look up order {args.get('order_id')}",
        names.issue_refund: lambda args: (
            f"refund {args.get('amount')} on order {args.get('order_id')}"
        ),
        names.ask_genie: lambda args: f"ask Genie {args.get('question')!r}",
    }


_FAILED = re.compile(r"^\s*(?:[\w.]*(?:Error|Exception)\b|Could not\b)")
_REJECTED = re.compile(r"\brejected\b", re.I)


def respond(
    messages: list[Message],
    tools: list[dict[str, Any]] | None = None,
    names: DevModelTools = SIGNOFF_TOOLS,
) -> Message:
    """The assistant's reply to an OpenAI-format conversation, given the offered tools and the
    names of the tools this model knows how to call."""
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return {"role": "assistant", "content": _summarise(messages, names)}
    if last.get("role") == "user":
        offered = {tool.get("function", {}).get("name") for tool in tools or []}
        return _plan(_text(last.get("content")), offered, names)
    return {"role": "assistant", "content": HELP}


def _text(content: Any) -> str:
    """Plain text of a message's content (a string or a list of text parts)."""
    if isinstance(content, list):
        return " ".join(
            part.get("text", "") if isinstance(part, dict) else str(part) for part in content
        ).strip()
    return str(content or "").strip()


def _plan(text: str, offered: set[str], names: DevModelTools) -> Message:
    calls: list[dict[str, Any]] = []
    missing: list[str] = []
    rules, actions = _rules(names), _actions(names)
    for clause in filter(None, (c.strip(" .!") for c in _CLAUSE_BREAK.split(text))):
        found = next(((rule, m) for rule in rules if (m := rule.pattern.search(clause))), None)
        if found is None:
            continue
        rule, match = found
        arguments = rule.arguments(match, clause)
        if rule.tool in offered:
            calls.append(_tool_call(rule.tool, arguments))
        else:
            missing.append(
                f"I would {actions[rule.tool](arguments)}, but no `{rule.tool}` tool is "
                "available here."
            )
    if not calls and not missing:
        return {"role": "assistant", "content": HELP}
    message: Message = {"role": "assistant", "content": " ".join(missing) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _tool_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"call_{uuid.uuid4().hex}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


def _summarise(messages: list[Message], names: DevModelTools) -> str:
    """One sentence per tool result at the end of the conversation."""
    results: list[Message] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.insert(0, message)
    calls = {
        call.get("id"): call.get("function", {})
        for message in messages
        if message.get("role") == "assistant"
        for call in message.get("tool_calls") or []
    }
    return " ".join(
        _describe(calls.get(result.get("tool_call_id"), {}), _text(result.get("content")), names)
        for result in results
    )


def _describe(function: dict[str, Any], content: str, names: DevModelTools) -> str:
    name = function.get("name") or "the tool"
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except json.JSONDecodeError:
        arguments = {}
    action = _actions(names).get(name, lambda _: f"run {name}")(arguments)
    try:
        payload = json.loads(content)
    except json.JSONDecodeError:
        payload = None
    if isinstance(payload, dict) and payload.get("error"):
        lines = [line.strip() for line in str(payload["error"]).splitlines() if line.strip()]
        return f"I tried to {action}, but it failed: {lines[-1]}"
    if _FAILED.search(content):
        return f"I tried to {action}, but it failed: {content}"
    if _REJECTED.search(content):
        return f"I did not {action}: {content}"
    if isinstance(payload, dict) and "value" in payload:
        content = str(payload["value"])
    if name == names.start_job:
        return _started(content)
    return content


def _started(content: str) -> str:
    run = re.search(r"\brun\s+(\d+)", content, re.I)
    url = re.search(r"https?://\S+", content)
    if run and url:
        link = url.group().rstrip(".,;)")
        return (
            f"Started run {run.group(1)} of the nightly job: {link}. "
            "Ask me for its status any time."
        )
    return f"Started the nightly job: {content}"
