"""How the command line lays out what it prints: tables fitted to any terminal width, with
ids whole; tab-separated lines when not a terminal; text shown as text; `signoff show`'s
account of a request, whatever its conversation holds."""

from __future__ import annotations

import contextlib
import io
import re
import unicodedata
import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from signoff.client.cli import PENDING_COLUMNS, conversation_of, described
from signoff.client.terminal import GAP, fitted_table, plain, print_listing
from signoff.protocol.shapes import build_request
from signoff.protocol.summaries import summary_of
from tests.property_settings import EXAMPLES

NASTY = st.sampled_from(
    ["\x1b[2J", "\x1b]0;owned\x07", "\u202e", "\ud800", "\t", "\n", "\r", "[/bold]", "[red]", "界"]
)
"""Text an agent or a requester might put in a request: escapes a terminal acts on, markup,
line breaks, a lone surrogate, a wide character."""
TEXT = st.lists(st.one_of(st.text(max_size=30), NASTY), max_size=6).map("".join)
IDS = st.uuids().map(str)

THREAD_AND_SUMMARY = 36 + GAP + 16
"""The narrowest table with a whole thread id and the summary at its narrowest."""


def rendered(table: Any, width: int) -> list[str]:
    """The lines `table` prints on a terminal `width` cells wide."""
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, force_terminal=True).print(table)
    return out.getvalue().splitlines()


def pending_row(thread_id: str, summary: str, other: str) -> list[str]:
    """A row of `signoff pending`'s table: `other` in every column but the first two."""
    return [thread_id, summary, *[other] * (len(PENDING_COLUMNS) - 2)]


@EXAMPLES
@given(
    rows=st.lists(st.tuples(IDS, TEXT, TEXT), max_size=5),
    width=st.integers(min_value=2 * 2 + GAP, max_value=260),
)
def test_no_line_is_wider_than_the_terminal_and_ids_stay_whole(
    rows: list[tuple[str, str, str]], width: int
) -> None:
    lines = rendered(
        fitted_table(PENDING_COLUMNS, [pending_row(*row) for row in rows], width, "pending"),
        width,
    )
    assert all(cell_len(line) <= width for line in lines), (width, lines)
    if width >= THREAD_AND_SUMMARY:
        for thread_id, _, _ in rows:
            assert any(thread_id in line for line in lines)


def test_at_80_columns_three_payments_show_whole_ids_summaries_who_may_decide_and_waiting():
    payments = [("5,000", "acct-north-1"), ("12,500", "acct-east-22"), ("980,000", "acct-7")]
    rows = [
        [
            str(uuid.uuid4()),
            f"payment of {amount} USD to {account}",
            "Payment",
            "approve_reject",
            "review",
            "alice@signoff.local",
            "managers, finance",
            "3m",
            "never",
            "",
        ]
        for amount, account in payments
    ]
    lines = rendered(fitted_table(PENDING_COLUMNS, rows, 80, "3 pending"), 80)
    header = next(line for line in lines if line.startswith("Thread"))
    assert re.split(r"\s{2,}", header.strip()) == ["Thread", "Summary", "May decide", "Waiting"]
    for row, (amount, account) in zip(rows, payments, strict=True):
        start = next(n for n, line in enumerate(lines) if line.startswith(row[0]))
        block = " ".join(lines[start : start + 3])
        assert amount in block and account in block and "3m" in block


@EXAMPLES
@given(value=TEXT)
def test_plain_text_is_one_line_with_every_control_character_escaped(value: str) -> None:
    shown = plain(value)
    assert "\n" not in shown and "\t" not in shown
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in shown)
    shown.encode("utf-8")  # prints anywhere
    if value.isprintable():
        assert shown == value


@EXAMPLES
@given(rows=st.lists(st.lists(TEXT, min_size=3, max_size=3), max_size=5))
def test_piped_a_listing_is_one_tab_separated_line_per_row_with_every_value_whole(
    rows: list[list[str]],
) -> None:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        print_listing("3 pending", PENDING_COLUMNS[:3], [["cut"] * 3 for _ in rows], rows)
    assert out.getvalue().splitlines() == ["\t".join(plain(value) for value in row) for row in rows]


def request_with(conversation: Any, summary: Any = "payment of 5,000 USD to acct-9") -> Any:
    """A refund request made with `summary` (its actions' descriptions start with it), whose
    `summary` and `conversation` then hold whatever they are given."""
    request: Any = build_request(
        [{"name": "main__support__issue_refund", "args": {"amount": 5000, "to": "acct-9"}}],
        [["approve", "reject", "respond"]],
        request_id="r-1",
        stage="review",
        requested_by="alice@signoff.local",
        decided_by=["support-leads"],
        deadlines={"created_at": "2026-12-01T00:00:00+00:00"},
        summary=summary if isinstance(summary, str) else None,
    )
    return {**request, "summary": summary, "conversation": conversation}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


@EXAMPLES
@given(
    conversation=st.one_of(
        JSON,
        st.fixed_dictionaries({}, optional={"user": JSON, "assistant": JSON}),
    ),
    summary=st.one_of(TEXT, JSON),
    width=st.integers(min_value=20, max_value=200),
)
def test_show_prints_the_summary_first_whatever_the_conversation_holds(
    conversation: Any, summary: Any, width: int
) -> None:
    request = request_with(conversation, summary)
    lines = rendered(described(str(uuid.uuid4()), request), width)
    assert all(cell_len(line) <= width for line in lines)
    assert " ".join(plain(summary_of(request)).split()).startswith(" ".join(lines[0].split()))
    words = " ".join(" ".join(lines).split())
    assert "allowed: approve, reject, respond" in words
    assert ("The conversation that led to it:" in words) == bool(conversation_of(request))


def test_show_prints_the_conversation_that_led_to_a_tool_call():
    request = request_with(
        {"user": "Refund order 7, it arrived broken", "assistant": "Refunding 5,000 to acct-9."}
    )
    lines = rendered(described("t-1", request), 100)
    assert lines[0] == "payment of 5,000 USD to acct-9"
    said = lines.index("  The conversation that led to it:")
    assert lines[said + 1 : said + 3] == [
        "    user: Refund order 7, it arrived broken",
        "    model: Refunding 5,000 to acct-9.",
    ]
    assert lines[said + 3 : said + 5] == ["  Issue refund", "  {"]
