"""Decision parsing and normalisation, in-process: every accepted format and every refusal."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from signoff.protocol.parsing import InvalidAnswer, parse_answer
from signoff.protocol.shapes import args_digest, build_request


class Args(BaseModel):
    """A tool argument schema for the validator."""

    to: str = Field(min_length=1)
    amount: float = Field(gt=0)


def validate(_name, args):
    """Validator in the protocol's shape."""
    return Args.model_validate(args).model_dump()


def request(*allowed, actions=1):
    """A request for `actions` payment actions allowing `allowed` (default: all four)."""
    allowed = list(allowed or ("approve", "edit", "reject", "respond"))
    return build_request(
        [{"name": "pay", "args": {"to": f"a{i}", "amount": 5}} for i in range(actions)],
        [allowed] * actions,
        request_id="r",
        stage="review",
        requested_by="u",
        decided_by=["managers"],
        deadlines={"created_at": "2026-11-21T09:00:00.000+00:00"},
    )


@pytest.mark.parametrize("text", ["approve", "approved", "yes", "Yes", " APPROVE ", "ok", "y"])
def test_plain_approval_words(text):
    assert parse_answer(text, request()) == [{"type": "approve"}]


def test_an_approval_may_carry_a_comment():
    answer = {"decisions": [{"type": "approve", "message": "  checked the invoice "}]}
    assert parse_answer(answer, request()) == [
        {"type": "approve", "message": "checked the invoice"}
    ]
    blank = {"decisions": [{"type": "approve", "message": "   "}]}
    assert parse_answer(blank, request()) == [{"type": "approve"}]
    with pytest.raises(InvalidAnswer, match="the message must be text"):
        parse_answer({"decisions": [{"type": "approve", "message": 5}]}, request())


@pytest.mark.parametrize("text", ["reject", "rejected", "no", "No.", "deny"])
def test_plain_rejection_words(text):
    assert parse_answer(text, request()) == [{"type": "reject"}]


def test_other_text_rejects_with_feedback():
    assert parse_answer("use the EUR account", request()) == [
        {"type": "reject", "message": "use the EUR account"}
    ]


def test_plain_text_applies_to_every_action():
    assert parse_answer("yes", request(actions=3)) == [{"type": "approve"}] * 3


def test_langchain_decisions_normalise():
    answer = {
        "decisions": [
            {"type": "approve"},
            {"type": "edit", "edited_action": {"name": "pay", "args": {"to": "b", "amount": "7"}}},
            {"type": "reject", "message": "no"},
            {"type": "respond", "message": "done already"},
        ]
    }
    assert parse_answer(answer, request(actions=4), validate) == [
        {"type": "approve"},
        {"type": "edit", "args": {"to": "b", "amount": 7.0}},
        {"type": "reject", "message": "no"},
        {"type": "respond", "message": "done already"},
    ]


def test_single_langchain_decision_without_wrapper():
    assert parse_answer({"type": "reject"}, request()) == [{"type": "reject"}]


def test_agent_inbox_responses_normalise():
    inbox = [{"type": "accept", "args": None}]
    assert parse_answer(inbox, request()) == [{"type": "approve"}]
    edit = [{"type": "edit", "args": {"action": "pay", "args": {"to": "c", "amount": 1}}}]
    assert parse_answer(edit, request(), validate) == [
        {"type": "edit", "args": {"to": "c", "amount": 1.0}}
    ]
    assert parse_answer([{"type": "response", "args": "fyi"}], request()) == [
        {"type": "respond", "message": "fyi"}
    ]
    assert parse_answer([{"type": "ignore", "args": None}], request()) == [{"type": "reject"}]


def test_json_text_is_parsed():
    assert parse_answer('{"decisions": [{"type": "approve"}]}', request()) == [{"type": "approve"}]
    assert parse_answer('"yes"', request()) == [{"type": "approve"}]


def test_matching_digest_is_accepted_and_stale_refused():
    shown = request()
    good = {"decisions": [{"type": "approve"}], "args_digest": shown["args_digest"]}
    assert parse_answer(good, shown) == [{"type": "approve"}]
    with pytest.raises(InvalidAnswer, match="Stale answer"):
        parse_answer({**good, "args_digest": "x"}, shown)


def test_matching_request_id_is_accepted_and_another_refused():
    shown = request()
    good = {"decisions": [{"type": "approve"}], "request_id": shown["request_id"]}
    assert parse_answer(good, shown) == [{"type": "approve"}]
    with pytest.raises(InvalidAnswer, match="Stale answer: request_id 'other'"):
        parse_answer({**good, "request_id": "other"}, shown)


def test_digest_binds_the_pause_not_just_the_arguments():
    actions = [{"name": "pay", "args": {"to": "x", "amount": 1}}]
    assert args_digest(actions, "r1", "manager") != args_digest(actions, "r2", "manager")
    assert args_digest(actions, "r1", "manager") != args_digest(actions, "r1", "security")


def test_digest_ignores_key_order_but_not_values():
    a = [{"name": "pay", "args": {"to": "x", "amount": 1}}]
    b = [{"name": "pay", "args": {"amount": 1, "to": "x"}}]
    c = [{"name": "pay", "args": {"amount": 2, "to": "x"}}]
    assert args_digest(a) == args_digest(b) != args_digest(c)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (object(), "not a JSON value"),
        (float("nan"), "not a JSON value"),
        (None, "type NoneType is not understood"),
        (
            {"decisions": [{"type": "edit", "edited_action": {"name": "pay", "args": {"to": ""}}}]},
            "Edited arguments for 'pay' are invalid: to: String should have at least 1 character",
        ),
        ({"decisions": [{"type": "respond"}]}, '"respond" needs a non-empty "message"'),
        ([{"type": 3}], 'must be an object with a string "type"'),
    ],
)
def test_refusals_say_what_was_wrong(answer, message):
    with pytest.raises(InvalidAnswer, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_answer(answer, request(), validate)


def test_review_config_is_enforced_per_action():
    mixed = build_request(
        [{"name": "read", "args": {}}, {"name": "pay", "args": {}}],
        [["approve", "respond"], ["approve", "reject"]],
        request_id="r",
        stage="s",
        requested_by="u",
        decided_by=["managers"],
        deadlines={"created_at": "2026-11-21T09:00:00.000+00:00"},
    )
    assert parse_answer(
        {"decisions": [{"type": "respond", "message": "x"}, {"type": "reject"}]}, mixed
    ) == [{"type": "respond", "message": "x"}, {"type": "reject"}]
    with pytest.raises(InvalidAnswer, match="'respond' is not allowed for 'pay'"):
        parse_answer(
            {"decisions": [{"type": "approve"}, {"type": "respond", "message": "x"}]}, mixed
        )
    with pytest.raises(InvalidAnswer, match="'reject' is not allowed for 'read'"):
        parse_answer("no", mixed)


def test_edit_without_validator_keeps_args_as_given():
    answer = {"decisions": [{"type": "edit", "edited_action": {"args": {"anything": 1}}}]}
    assert parse_answer(answer, request()) == [{"type": "edit", "args": {"anything": 1}}]


def test_a_changed_request_needs_an_answer_that_names_it():
    shown = request()
    for blind in ("approve", [{"type": "accept"}], {"decisions": [{"type": "approve"}]}):
        with pytest.raises(InvalidAnswer, match="changed after they were first shown"):
            parse_answer(blind, shown, require_reference=True)
    named = {"decisions": [{"type": "approve"}], "args_digest": shown["args_digest"]}
    assert parse_answer(named, shown, require_reference=True) == [{"type": "approve"}]
    assert parse_answer(
        '{"decisions": [{"type": "reject"}], "request_id": "r"}', shown, require_reference=True
    ) == [{"type": "reject"}]


class Loose(BaseModel):
    """A schema that, like many, turns the text "NaN" into a float."""

    amount: float


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_an_edit_that_validation_turns_into_a_non_number_is_refused(text):
    edit = {"type": "edit", "edited_action": {"name": "pay", "args": {"amount": text}}}
    with pytest.raises(InvalidAnswer, match="is not a number"):
        parse_answer(edit, request(), lambda _name, args: Loose.model_validate(args).model_dump())
