"""What a request is about, in words an approver triages by: one-line summaries, human tool
names, the amount it moves, and its arguments as Agent Inbox can render them.

Every request carries a `summary` its graph made (`ask_for_decisions(summary=...)`), e.g.
`payment of 980,000 USD to acct-offshore-7`; a graph that makes none gets `summarize` of its
first action. Readers call `summary_of`, which also reads requests raised before summaries
existed. Tool names become titles (`main__support__issue_refund` → `Issue refund`): a Unity
Catalog function is named `catalog__schema__function` by databricks-langchain.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

SUMMARY_CHARACTERS = 160
"""The longest summary kept; longer ones end in an ellipsis."""

AMOUNT_KEYS = ("amount", "total", "value")
"""The arguments read as the amount an action moves, first found first."""

CURRENCY_KEYS = ("currency",)
PARTY_KEYS = ("to", "target", "recipient", "recipients", "account", "destination", "email")
"""The arguments read as whom an action goes to."""

SUBJECT_KEYS = ("subject", "title", "name", "query", "question")
"""The arguments read as what an action is about, after its amount and party."""

_WORDS = {"databricks": "Databricks", "uc": "UC", "id": "ID", "sql": "SQL", "api": "API"}


def tool_title(name: str) -> str:
    """A tool or action name as people write it: the last part of a dotted or Unity Catalog
    (`catalog__schema__function`) name, in words, with its first letter capitalised."""
    last = re.split(r"__|\.", name)[-1] or name
    words = [_WORDS.get(word.lower(), word) for word in re.split(r"[_\-\s]+", last) if word]
    text = " ".join(words) or name
    return text[:1].upper() + text[1:]


def summarize(name: str, args: Mapping[str, Any]) -> str:
    """A one-line account of running `name` with `args`, from the arguments that usually say
    what an action is: its amount and currency, whom it goes to, and what it is about;
    `tool_title(name)` alone when it has none of them."""
    title = tool_title(name)
    parts = [title[:1].lower() + title[1:] if _is_plain(name) else title]
    if (amount := amount_in(args)) is not None:
        currency = next((str(args[k]) for k in CURRENCY_KEYS if isinstance(args.get(k), str)), "")
        parts.append(f"of {amount_text(amount)}{' ' + currency if currency else ''}")
    if (party := _first_text(args, PARTY_KEYS)) is not None:
        parts.append(f"to {party}")
    if (subject := _first_text(args, SUBJECT_KEYS)) is not None:
        parts.append(repr(subject) if " " in subject else subject)
    joint = "for " if len(parts) > 1 else ""  # "of 7 for order 21", "job run 1006"
    identifiers = [
        str(value) if title.lower().endswith(noun) else f"{joint}{noun} {value}"
        for key, value in args.items()
        if key.endswith("_id") and isinstance(value, str | int) and not isinstance(value, bool)
        for noun in [key.removesuffix("_id").replace("_", " ")]
    ]
    parts.extend(identifiers[:2])
    return one_line(" ".join(parts))


def one_line(text: str) -> str:
    """`text` on one line of at most `SUMMARY_CHARACTERS`, without control or format
    characters (zero-width and bidirectional marks would let a requester's text hide or
    reorder what a summary says)."""
    return clip(" ".join(visible(text).split()), SUMMARY_CHARACTERS)


def visible(text: str) -> str:
    """`text` without control (`Cc`) and format (`Cf`) characters, whitespace kept."""
    if text.isprintable():  # the usual case, checked in C: nothing to remove
        return text
    return "".join(c for c in text if c.isspace() or unicodedata.category(c) not in ("Cc", "Cf"))


def clip(text: str, limit: int) -> str:
    """`text`, or its first `limit - 1` characters and an ellipsis."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def summary_of(request: Mapping[str, Any]) -> str:
    """The request's summary: the one its graph made, else one of its first action (and how
    many more it shows)."""
    if isinstance(made := request.get("summary"), str) and made:
        return made
    actions = request.get("action_requests") or []
    if not actions:
        return "an empty request"
    first = summarize(actions[0].get("name", "?"), actions[0].get("args") or {})
    return with_more(first, len(actions))


def with_more(summary: str, actions: int) -> str:
    """`summary` of a request's first action, saying how many more actions it has: a summary
    never passes for the whole of a request that does more."""
    more = actions - 1
    if more < 1:
        return summary
    tail = f" and {more} more action{'s' if more > 1 else ''}"
    return clip(summary, SUMMARY_CHARACTERS - len(tail)) + tail


ARGUMENTS_CHARACTERS = 300
"""The most of a request's arguments a one-line view (a list row, a Slack notice) shows."""


def arguments_line(request: Mapping[str, Any]) -> str:
    """The arguments of every action of `request` on one line, as compact JSON, without
    control or format characters, cut to `ARGUMENTS_CHARACTERS`: what a list shows beside
    the summary, so that what is approved from the list is in sight."""
    args = [action.get("args") for action in request.get("action_requests") or []]
    text = json.dumps(args[0] if len(args) == 1 else args, sort_keys=True, default=str)
    return clip(visible(text), ARGUMENTS_CHARACTERS)


def amount_in(args: Mapping[str, Any]) -> float | None:
    """The amount an action moves: its first finite numeric `AMOUNT_KEYS` argument."""
    for key in AMOUNT_KEYS:
        value = args.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


def amount_of(request: Mapping[str, Any]) -> float | None:
    """The largest amount any action of `request` moves (what an inbox sorts by), `None` when
    none has one."""
    amounts = [
        amount
        for action in request.get("action_requests") or []
        if (amount := amount_in(action.get("args") or {})) is not None
    ]
    return max(amounts) if amounts else None


def inbox_arguments(args: Mapping[str, Any]) -> dict[str, Any]:
    """`args` as Agent Inbox renders them: it shows text, and JSON of lists and objects, but a
    number as nothing at all, so numbers are shown as their text. An accept echoing these
    arguments echoes what was shown (`parsing`), and edited text is read back as numbers."""
    return {
        key: str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        for key, value in args.items()
    }


def inbox_description(summary: str, own: str) -> str:
    """The description Agent Inbox shows for an action: the summary first (its list shows the
    first 65 characters), then the action's own description `own`."""
    return f"{summary}. {own}" if own and not own.startswith(summary) else own or summary


def own_description(description: Any, summary: str) -> str:
    """An action's description without the request's `summary` that `inbox_description` put
    first (a page or `show` prints the summary already); empty for one that is not text."""
    if not isinstance(description, str):
        return ""
    return "" if description == summary else description.removeprefix(f"{summary}. ")


def conversation_said(request: Any) -> list[tuple[str, str]]:
    """What a request's `conversation` says, as `(key, words)` for `user` then `assistant`:
    those of them that are text and not blank, stripped. A request from an old or crafted
    checkpoint may have none, or fields of any type: they are left out."""
    conversation = request.get("conversation") if isinstance(request, Mapping) else None
    if not isinstance(conversation, Mapping):
        return []
    return [
        (key, words.strip())
        for key in ("user", "assistant")
        if isinstance(words := conversation.get(key), str) and words.strip()
    ]


def _is_plain(name: str) -> bool:
    return "__" not in name and "." not in name


def _first_text(args: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = args.get(key)
        if isinstance(value, str) and value.strip():
            return clip(value.strip(), 60)
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return clip(", ".join(value), 60)
    return None


def amount_text(amount: float) -> str:
    """`amount` with thousands separators, decimals only where it has them."""
    return f"{int(amount):,}" if amount == int(amount) else f"{amount:,.2f}"
