"""How the inbox's pages show a request: its summary first, tools by their human names, the
conversation that led to a tool call, times, ages and arguments.

The templates (`templates/`, Jinja2, autoescaped: every value is shown as text, never as
markup) use these as filters. A request comes from a checkpoint, which may be old or crafted:
the pages get only requests whose fields readers rely on are of their types
(`signoff.protocol.interrupts.readable_request`), and what that does not check (the messages of
a conversation, an audit entry's action) each filter takes as any value, showing what it can
read of it and nothing of what it cannot, so a page always renders.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from signoff.clock import parse, seconds_since, span
from signoff.governance.policy import deciding_groups
from signoff.protocol.shapes import CONVERSATION_CHARACTERS
from signoff.protocol.summaries import (
    arguments_line,
    clip,
    conversation_said,
    own_description,
    summary_of,
    tool_title,
)

TEMPLATES = Environment(
    loader=PackageLoader("signoff.server.inbox"), autoescape=select_autoescape(), enable_async=False
)


@dataclass(frozen=True)
class Said:
    """One message of the conversation shown with a tool call."""

    who: str
    """Whose words they are, as the page names them."""
    text: str


def conversation(request: Any) -> list[Said]:
    """What led an agent to the tool call of `request` (`conversation_said`), each message
    cut to `CONVERSATION_CHARACTERS`; empty for a request without one."""
    return [
        Said(_SPEAKERS[key], clip(words, CONVERSATION_CHARACTERS))
        for key, words in conversation_said(request)
    ]


_SPEAKERS = {"user": "The user's last message", "assistant": "The model's reply"}


def summary(request: Any) -> str:
    """The request's one line (`summary_of`), e.g. `payment of 980,000 USD to acct-7`."""
    return summary_of(request) if isinstance(request, Mapping) else ""


def titled(name: Any) -> str:
    """An action or tool name in words (`tool_title`): `Issue refund`, not
    `main__support__issue_refund`."""
    return tool_title(name) if isinstance(name, str) and name else str(name or "")


def titles(request: Any) -> str:
    """The titles of a request's actions, e.g. `Issue refund, Look up order`."""
    actions = request.get("action_requests") if isinstance(request, Mapping) else None
    names = [a.get("name") for a in actions if isinstance(a, Mapping)] if actions else []
    return ", ".join(titled(name) for name in names)


def age(moment: str | None) -> str:
    """How long ago `moment` was, e.g. `3 h`."""
    return span(seconds_since(moment), ("d", "h", "min", "s"), " ")


def when(moment: Any) -> str:
    """An ISO time as `2026-11-21 19:40 UTC` (anything else as it is)."""
    parsed = parse(moment)
    return parsed.strftime("%Y-%m-%d %H:%M UTC") if parsed else str(moment or "")


def readable(value: Any) -> str:
    """An argument's value as text: text as it is, a list of text joined, anything else as
    JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value) or "(none)"
    return json.dumps(value, indent=2, default=str)


def deciders(request: Mapping[str, Any]) -> Markup:
    """The groups that may decide `request`, escalation included."""
    return escape(", ".join(deciding_groups(request)))


TEMPLATES.filters.update(
    arguments=arguments_line,
    age=age,
    when=when,
    readable=readable,
    deciders=deciders,
    summary=summary,
    tool_title=titled,
    titles=titles,
    own_description=own_description,
    conversation=conversation,
)
