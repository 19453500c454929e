"""A deterministic, rule-based chat model for offline development and tests.

It is not a language model. It maps requests such as "pay 250 to acct-7 and message Ana:
lunch at noon" to tool calls with fixed rules, one call per clause (so one message can carry
parallel calls), and turns tool results into a short answer. Use it to exercise approval
flows without a model endpoint.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolCall, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool

HELP = (
    "I can check balances, send payments and send messages. Try: 'balance of acct-1', "
    "'pay 250 to acct-7 for invoice 12', or 'message ana@example.com: lunch at noon'."
)

_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], tuple[str, dict[str, Any]]]]] = [
    (
        re.compile(r"balance (?:of|for) (?P<account>[\w.@-]+)", re.I),
        lambda m: ("get_balance", {"account": m["account"]}),
    ),
    (
        re.compile(
            r"(?:pay|send|transfer) \$?(?P<amount>\d+(?:\.\d+)?)(?: usd)? to (?P<to>[\w.@-]+)"
            r"(?: for (?P<memo>.+))?",
            re.I,
        ),
        lambda m: (
            "send_payment",
            {"to": m["to"], "amount": float(m["amount"]), "memo": (m["memo"] or "").strip()},
        ),
    ),
    (
        re.compile(r"(?:message|tell|email) (?P<to>[\w.@-]+):? (?P<body>.+)", re.I),
        lambda m: ("send_message", {"to": m["to"], "body": m["body"].strip()}),
    ),
]


_CLAUSE_BREAK = re.compile(
    r";|\band (?=(?:then )?(?:pay|send|transfer|message|tell|email|check|what|balance)\b)", re.I
)


def plan_tool_calls(text: str) -> list[ToolCall]:
    """The tool calls the rules read in `text`: one per clause joined by ' and ' or ';'."""
    calls = []
    for clause in _CLAUSE_BREAK.split(text):
        for pattern, to_call in _RULES:
            if match := pattern.search(clause):
                name, args = to_call(match)
                calls.append(ToolCall(name=name, args=args, id=f"call_{uuid.uuid4().hex[:12]}"))
                break
    return calls


def summarise_results(results: list[ToolMessage]) -> str:
    """A short answer from the tool results of the last turn."""
    lines = []
    for result in results:
        if result.status == "error":
            lines.append(f"{result.name} did not run: {result.content}")
        else:
            lines.append(str(result.content))
    return " ".join(lines)


class ScriptedChatModel(BaseChatModel):
    """Rule-based stand-in for a chat model (see the module docstring)."""

    @property
    def _llm_type(self) -> str:
        return "signoff-scripted"

    def bind_tools(
        self, tools: Sequence[dict[str, Any] | type | Callable | BaseTool], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Accept tools for interface compatibility; the rules already know their names."""
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages))])

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        trailing_results: list[ToolMessage] = []
        for message in reversed(messages):
            if not isinstance(message, ToolMessage):
                break
            trailing_results.insert(0, message)
        if trailing_results:
            return AIMessage(content=summarise_results(trailing_results))
        last_human = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        calls = plan_tool_calls(str(last_human.content)) if last_human else []
        return AIMessage(content="", tool_calls=calls) if calls else AIMessage(content=HELP)
