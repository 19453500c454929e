"""The answer grammar is one table: the parser, Studio's schema, the refusal text and the
protocol's documentation (docs/protocol.md) all follow it."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from signoff.protocol.grammar import (
    GRAMMAR,
    INBOX_TYPES,
    RESPONSE_SCHEMA,
    accepted_text,
    markdown_table,
)
from signoff.protocol.parsing import parse_answer
from signoff.protocol.shapes import DECISION_TYPES, WITHDRAW, AnswerType, build_request

PROTOCOL_DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
EVERY_DECISION = build_request(
    [{"name": "payment", "args": {"amount": 5}}],
    [list(DECISION_TYPES)],
    request_id="r-1",
    stage="review",
    requested_by="alice@signoff.local",
    decided_by=["managers"],
    deadlines={"created_at": "2026-11-21T09:00:00.000+00:00"},
)


def test_the_protocol_doc_shows_the_grammar_table_as_it_is():
    assert markdown_table() in PROTOCOL_DOC.read_text(encoding="utf-8"), (
        "docs/protocol.md's answer table is out of date: "
        "paste signoff.protocol.grammar.markdown_table()"
    )


def test_the_table_covers_every_decision_and_the_withdrawal_once():
    assert [form.type for form in GRAMMAR] == [*DECISION_TYPES, WITHDRAW]
    answer_types = {value for literal in get_args(AnswerType) for value in get_args(literal)}
    assert answer_types == {*DECISION_TYPES, WITHDRAW}


@pytest.mark.parametrize(
    ("word", "expected"),
    [(word, form.type) for form in GRAMMAR for word in form.words],
)
def test_every_word_of_the_table_parses_to_its_decision(word, expected):
    for spelling in (word, word.upper(), f" {word}. "):
        [decision] = parse_answer(spelling, EVERY_DECISION)
        assert decision["type"] == expected


@pytest.mark.parametrize(("inbox_type", "expected"), list(INBOX_TYPES.items()))
def test_every_agent_inbox_type_of_the_table_parses_to_its_decision(inbox_type, expected):
    args = {
        "accept": None,
        "edit": {"action": "payment", "args": {"amount": 6}},
        "ignore": None,
        "response": "please split it",
    }[inbox_type]
    [decision] = parse_answer([{"type": inbox_type, "args": args}], EVERY_DECISION)
    assert decision["type"] == expected


def test_other_text_is_feedback_that_rejects():
    [decision] = parse_answer("not before Monday", EVERY_DECISION)
    assert decision == {"type": "reject", "message": "not before Monday"}


def test_studios_schema_and_the_refusal_text_come_from_the_table():
    decisions, withdrawal, inbox, text = RESPONSE_SCHEMA["anyOf"]
    item_type = decisions["properties"]["decisions"]["items"]["properties"]["type"]
    assert item_type["enum"] == list(DECISION_TYPES)
    assert withdrawal["properties"]["type"] == {"const": WITHDRAW}
    assert inbox["items"]["properties"]["type"]["enum"] == list(INBOX_TYPES)
    sentence = accepted_text("payment: approve", 1)
    for form in GRAMMAR:
        assert form.langchain in text["description"] or form.langchain in sentence
        assert all(word in text["description"] for word in form.words)
        if form.inbox:
            assert f'"{form.inbox}"' in sentence
