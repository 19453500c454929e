"""The answer grammar: every way a reviewer may write each decision, in one table.

`GRAMMAR` is the only place the accepted answers are written. From it come the JSON Schema
Studio renders a form from (`RESPONSE_SCHEMA`), the "what is accepted" sentence every refused
answer carries (`accepted_text`), the words and Agent Inbox types `parsing` reads
(`words_for`, `INBOX_TYPES`), the reply Model Serving callers get (`how_to_answer`) and the
table in `docs/protocol.md` (`markdown_table`; `tests/unit/test_answer_grammar.py` keeps it in
sync).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from signoff.protocol.shapes import WITHDRAW, AnswerType


@dataclass(frozen=True)
class AnswerForm:
    """How one decision is written in each accepted format."""

    type: AnswerType
    """The decision it normalises to."""

    means: str
    """What the decision does, for people."""

    langchain: str
    """The langchain `HumanInTheLoopMiddleware` decision object (also valid alone, for one
    action), with its fields."""

    inbox: str | None
    """The Agent Inbox response type that means it, or `None`."""

    inbox_fields: str
    """What Agent Inbox sends with that type."""

    words: tuple[str, ...]
    """Plain-text answers that mean it (case-insensitive, trailing `.`/`!` ignored)."""


GRAMMAR: tuple[AnswerForm, ...] = (
    AnswerForm(
        type="approve",
        means="run the action with the arguments shown (`message`: an optional comment)",
        langchain='{"type": "approve", "message"?}',
        inbox="accept",
        inbox_fields="`args` may echo the action; it must equal what was shown",
        words=("approve", "yes", "approved", "y", "accept", "accepted", "ok"),
    ),
    AnswerForm(
        type="edit",
        means="run it with changed arguments, validated against the action's schema",
        langchain='{"type": "edit", "edited_action": {"name", "args"}}',
        inbox="edit",
        inbox_fields='`args`: `{"action", "args"}`; text fields are read back as JSON where '
        "the argument shown was not text",
        words=(),
    ),
    AnswerForm(
        type="reject",
        means="do not run it; the message is the reason",
        langchain='{"type": "reject", "message"}',
        inbox="ignore",
        inbox_fields="nothing",
        words=("reject", "no", "rejected", "n", "deny", "denied"),
    ),
    AnswerForm(
        type="respond",
        means="do not run it; the message becomes its result",
        langchain='{"type": "respond", "message"}',
        inbox="response",
        inbox_fields="`args`: the text; where respond is not allowed it rejects with the text "
        "as the reason",
        words=(),
    ),
    AnswerForm(
        type=WITHDRAW,
        means="take the whole request back (only its requester or an admin); nothing runs",
        langchain='{"type": "withdraw", "message"}',
        inbox=None,
        inbox_fields="",
        words=("withdraw", "withdrawn"),
    ),
)
"""Every decision and how it is written. Any other text rejects, with the text as feedback."""

FEEDBACK = "any other text rejects with it as the reason"

INBOX_TYPES: dict[str, AnswerType] = {
    form.inbox: form.type for form in GRAMMAR if form.inbox is not None
}
"""Agent Inbox response type → the decision it means."""


def words_for(answer_type: AnswerType) -> frozenset[str]:
    """The plain-text answers that mean `answer_type`."""
    return frozenset(next(form.words for form in GRAMMAR if form.type == answer_type))


def accepted_text(per_action: str, count: int) -> str:
    """What a request taking `count` decisions (`per_action` names each action's allowed
    ones) accepts: appended to every refused answer."""
    decisions = " | ".join(form.langchain for form in GRAMMAR if form.type != WITHDRAW)
    inbox = " | ".join(f'"{form.inbox}"' for form in GRAMMAR if form.inbox)
    withdraw = next(form for form in GRAMMAR if form.type == WITHDRAW)
    return (
        f"This request takes {count} decision(s), in order ({per_action}), as "
        f'{{"decisions": [{decisions}]}}, as Agent Inbox [{{"type": {inbox}, "args"}}], or as '
        f"text: {_words_text()}, or feedback (rejects with it). The requester may instead "
        f"withdraw the request: {_quoted(withdraw.words[0])} or {withdraw.langchain}."
    )


def how_to_answer(thread_id: str) -> str:
    """How a Model Serving caller answers the approvals pending on `thread_id`."""
    return (
        f'To answer, send custom_inputs {{"thread_id": "{thread_id}", "decision": "approve"}}, '
        f"or other text ({_words_text()}, or feedback, which rejects with it), or "
        '{"decisions": [...]}; to answer calls separately, send "decisions": '
        '{"<interrupt id>": <answer>, ...} instead.'
    )


def _words_text() -> str:
    """The first two words of each decision, e.g. `"approve"/"yes", "reject"/"no"`."""
    return ", ".join(
        "/".join(_quoted(word) for word in form.words[:2])
        for form in GRAMMAR
        if form.words and form.type != WITHDRAW
    )


def _quoted(word: str) -> str:
    return f'"{word}"'


def _response_schema() -> dict[str, Any]:
    decision_types = [form.type for form in GRAMMAR if form.type != WITHDRAW]
    words = "; ".join(f"{', '.join(form.words)}: {form.type}" for form in GRAMMAR if form.words)
    return {
        "title": "ApprovalAnswer",
        "description": (
            "Answer one signoff approval request: a langchain decisions object, an Agent Inbox "
            "response list, or plain text."
        ),
        "anyOf": [
            {
                "title": "Decisions",
                "type": "object",
                "properties": {
                    "decisions": {
                        "type": "array",
                        "description": "One decision per action request, in the same order.",
                        "items": {
                            "type": "object",
                            "properties": {
                                "type": {"type": "string", "enum": decision_types},
                                "edited_action": {
                                    "type": "object",
                                    "properties": {
                                        "name": {"type": "string"},
                                        "args": {"type": "object"},
                                    },
                                    "required": ["name", "args"],
                                },
                                "message": {"type": "string"},
                            },
                            "required": ["type"],
                        },
                    },
                    "args_digest": {
                        "type": "string",
                        "description": "Optional: the request's args_digest; must match.",
                    },
                    "request_id": {
                        "type": "string",
                        "description": "Optional: the request's request_id; must match.",
                    },
                },
                "required": ["decisions"],
            },
            {
                "title": "Withdrawal",
                "type": "object",
                "properties": {
                    "type": {"const": WITHDRAW},
                    "message": {"type": "string"},
                },
                "required": ["type"],
            },
            {
                "title": "Agent Inbox responses",
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string", "enum": list(INBOX_TYPES)},
                        "args": {},
                    },
                    "required": ["type"],
                },
            },
            {
                "title": "Plain answer",
                "type": "string",
                "description": f"{words}; {FEEDBACK}.",
            },
        ],
    }


RESPONSE_SCHEMA = _response_schema()
"""JSON Schema handed to `interrupt(response_schema=...)` so Studio can render a form.

It is a dict on purpose: langgraph validates typed schemas and raises on a mismatch, which
would fail the run; signoff validates answers itself and pauses again instead."""


def markdown_table() -> str:
    """The grammar as the Markdown table in `docs/protocol.md`."""
    rows = [
        "| decision | what it does | langchain | Agent Inbox | text |",
        "| --- | --- | --- | --- | --- |",
    ]
    for form in GRAMMAR:
        inbox = f'`"{form.inbox}"`: {form.inbox_fields}' if form.inbox else "n/a"
        words = ", ".join(f"`{word}`" for word in form.words) or "n/a"
        rows.append(f"| {form.type} | {form.means} | `{form.langchain}` | {inbox} | {words} |")
    return "\n".join(rows)
