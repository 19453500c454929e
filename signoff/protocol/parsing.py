"""Read a reviewer's answer, in any format of the answer grammar (`grammar.GRAMMAR`), into
one `Decision` per action.

The formats: langchain decisions (`{"decisions": [...]}`, or one decision alone when a single
action is under review, optionally carrying the request's `request_id` / `args_digest`),
Agent Inbox response lists, plain text, and a withdrawal of the whole request. A string that
starts with `{` or `[` is read as JSON.

Only answers within `bounds` (size, depth, JSON types) are read at all. Anything unusable
raises `InvalidAnswer` with a message saying what was wrong and what is accepted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from signoff.protocol.bounds import (
    OutOfBounds,
    check_bounds,
    check_text_depth,
    cut,
    shown,
)
from signoff.protocol.grammar import INBOX_TYPES, accepted_text, words_for
from signoff.protocol.shapes import (
    EXPIRE,
    WITHDRAW,
    ActionRequest,
    ApprovalRequest,
    ApproveDecision,
    Decision,
    DecisionType,
    EditDecision,
    RejectDecision,
    RespondDecision,
    WithdrawDecision,
)
from signoff.protocol.summaries import inbox_arguments

ArgsValidator = Callable[[str, dict[str, Any]], dict[str, Any]]
"""Checks edited args for the named action; returns them normalised or raises ValueError."""

APPROVE_WORDS = words_for("approve")
REJECT_WORDS = words_for("reject")
WITHDRAW_WORDS = words_for(WITHDRAW)


class InvalidAnswer(ValueError):
    """The answer cannot be used; `str(error)` says why."""


def accepted_answers(request: ApprovalRequest) -> str:
    """What `request` accepts, appended to every error so the reviewer can answer right."""
    per_action = "; ".join(
        f"{config['action_name']}: {', '.join(config['allowed_decisions'])}"
        for config in request["review_configs"]
    )
    return accepted_text(per_action, len(request["review_configs"]))


def parse_answer(
    answer: Any,
    request: ApprovalRequest,
    validate_args: ArgsValidator | None = None,
    *,
    require_reference: bool = False,
) -> list[Decision]:
    """Normalise `answer` into one decision per action of `request`, or raise `InvalidAnswer`.

    With `require_reference`, only an object naming this request (its `request_id` or
    `args_digest`) is accepted: proof the reviewer answers the arguments now shown.
    """
    try:
        check_bounds(answer)
    except OutOfBounds as error:
        raise InvalidAnswer(str(error)) from None
    if isinstance(answer, str) and _looks_like_json(answer):
        return parse_answer(
            _json_from_text(answer), request, validate_args, require_reference=require_reference
        )
    if (withdrawal := withdrawal_in(answer)) is not None:
        return [withdrawal] * len(request["action_requests"])
    if require_reference and not (
        isinstance(answer, dict) and (answer.get("request_id") or answer.get("args_digest"))
    ):
        raise InvalidAnswer(
            "These arguments changed after they were first shown (a direct state edit): answer "
            'with an object carrying this request\'s "request_id" or "args_digest", to confirm '
            "you reviewed them as they are now."
        )
    count = len(request["action_requests"])
    if isinstance(answer, str):
        items = _items_from_text(answer, count)
    elif isinstance(answer, dict):
        items = _items_from_object(answer, request)
    elif isinstance(answer, list):
        items = answer
    else:
        raise InvalidAnswer(f"An answer of type {type(answer).__name__} is not understood.")
    if len(items) != count:
        raise InvalidAnswer(
            f"Got {len(items)} decision(s) for {count} action(s); answer each action once, "
            "in the order of action_requests."
        )
    return [
        _check_decision(
            *_normalise(
                item,
                position,
                count,
                request["action_requests"][position],
                _allowed(request, position),
            ),
            request,
            position,
            validate_args,
        )
        for position, item in enumerate(items)
    ]


def withdrawal_in(answer: Any) -> Decision | None:
    """The withdrawal `answer` makes, or `None` when it is something else. Cheap and bounded:
    the server's auth calls it on raw answers to know whose permission to check."""
    if isinstance(answer, str):
        if answer.strip().lower().rstrip(".!") in WITHDRAW_WORDS:
            return WithdrawDecision(type=WITHDRAW)
        return None
    if isinstance(answer, dict) and answer.get("type") == WITHDRAW:
        message = answer.get("message")
        if isinstance(message, str) and message.strip():
            return WithdrawDecision(type=WITHDRAW, message=message.strip())
        return WithdrawDecision(type=WITHDRAW)
    return None


def expiry_in(answer: Any) -> str | None:
    """The `request_id` an expiry answer (`{"type": "expire", "request_id": ...}`, sent by the
    sweeper) names, or `None` when `answer` is something else."""
    if isinstance(answer, dict) and answer.get("type") == EXPIRE:
        request_id = answer.get("request_id")
        return request_id if isinstance(request_id, str) else ""
    return None


def _allowed(request: ApprovalRequest, position: int) -> list[DecisionType]:
    return request["review_configs"][position]["allowed_decisions"]


def _looks_like_json(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and stripped[0] in '{["'


def _items_from_text(text: str, count: int) -> list[dict[str, Any]]:
    """Map a plain answer to one item per action."""
    stripped = text.strip()
    if not stripped:
        raise InvalidAnswer("The answer is empty.")
    word = stripped.lower().rstrip(".!")
    if word in APPROVE_WORDS:
        return [{"type": "approve"}] * count
    if word in REJECT_WORDS:
        return [{"type": "reject"}] * count
    return [{"type": "reject", "message": stripped}] * count


def _json_from_text(text: str) -> Any:
    try:
        check_text_depth(text)
        parsed = json.loads(text)
    except OutOfBounds as error:
        raise InvalidAnswer(str(error)) from None
    except json.JSONDecodeError as error:
        raise InvalidAnswer(f"The answer looks like JSON but does not parse: {error}.") from None
    if isinstance(parsed, str) and parsed.strip()[:1] == '"':
        raise InvalidAnswer("A string encoded as JSON twice is not an answer; send the text.")
    return parsed


def _items_from_object(answer: dict[str, Any], request: ApprovalRequest) -> list[Any]:
    for field in ("request_id", "args_digest"):
        given = answer.get(field)
        if given is not None and given != request[field]:
            raise InvalidAnswer(
                f"Stale answer: {field} {shown(given)} does not match the request now pending "
                f"({request[field]!r}): it answers another pause or other arguments. Re-read "
                "the pending request and answer again."
            )
    if "decisions" in answer:
        decisions = answer["decisions"]
        if not isinstance(decisions, list):
            raise InvalidAnswer('"decisions" must be a list with one decision per action.')
        return decisions
    if "type" in answer:
        return [answer]
    raise InvalidAnswer('The object has neither "decisions" nor "type".')


def _normalise(
    item: Any, position: int, count: int, action: ActionRequest, allowed: list[DecisionType]
) -> tuple[Decision, str | None]:
    """Turn one langchain decision or Agent Inbox response on `action` into a `Decision`.

    `allowed` decides what an Agent Inbox `response` means: respond where the action allows
    it, else a rejection with the text as its reason. The second value is the action name an
    edit claims to target (`None` if it names none).
    """
    where = f"Decision {position + 1} of {count}"
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise InvalidAnswer(f'{where} must be an object with a string "type".')
    kind = INBOX_TYPES.get(item["type"], item["type"])
    if kind == "approve":
        _check_accepted_args(item.get("args"), action, where)
        comment = _optional_text(item.get("message"), where)
        return (
            ApproveDecision(type="approve", message=comment)
            if comment
            else ApproveDecision(type="approve"),
            None,
        )
    if kind == "edit":
        name, args = _edited_action(item, action, where)
        return EditDecision(type="edit", args=args), name
    if kind == "reject":
        message = _optional_text(item.get("message", item.get("args")), where)
        return (
            RejectDecision(type="reject", message=message)
            if message
            else RejectDecision(type="reject"),
            None,
        )
    if kind == "respond":
        text = _optional_text(item.get("message", item.get("args")), where)
        if not text:
            raise InvalidAnswer(f'{where}: "{item["type"]}" needs a non-empty "message" to return.')
        if item["type"] != "respond" and "respond" not in allowed:  # Agent Inbox's rejection
            return RejectDecision(type="reject", message=text), None
        return RespondDecision(type="respond", message=text), None
    raise InvalidAnswer(
        f"{where}: unknown decision type {shown(item['type'])}; use approve, edit, reject or "
        f"respond (Agent Inbox: {', '.join(INBOX_TYPES)})."
    )


def _check_accepted_args(given: Any, action: ActionRequest, where: str) -> None:
    """Agent Inbox's `accept` may echo the action it accepts; it must be the one shown, as
    raised or as Agent Inbox was shown it (`inbox_arguments`: numbers as text)."""
    if given is None:
        return
    if given not in (
        {"action": action["name"], "args": action["args"]},
        {"action": action["name"], "args": inbox_arguments(action["args"])},
    ):
        raise InvalidAnswer(
            f"{where}: this accept carries arguments other than those shown, so it cannot "
            'approve them; send an "edit" to change arguments.'
        )


def _edited_action(
    item: dict[str, Any], action: ActionRequest, where: str
) -> tuple[str | None, dict[str, Any]]:
    edited = item.get("edited_action")
    if edited is None and isinstance(item.get("args"), dict):
        inbox = item["args"]
        edited = {"name": inbox.get("action"), "args": _inbox_args(inbox.get("args"), action)}
    if not isinstance(edited, dict) or not isinstance(edited.get("args"), dict):
        raise InvalidAnswer(
            f'{where}: "edit" needs "edited_action": {{"name": ..., "args": {{...}}}} '
            '(Agent Inbox: "args": {"action": ..., "args": {...}}).'
        )
    return edited.get("name"), edited["args"]


def _inbox_args(args: Any, action: ActionRequest) -> Any:
    """Agent Inbox returns every edited field as text: read text back as JSON where the
    argument shown was not text (a list of recipients, a number), else keep it as sent."""
    if not isinstance(args, dict):
        return args
    return {
        name: _json_or_text(value)
        if isinstance(value, str) and not isinstance(action["args"].get(name, ""), str)
        else value
        for name, value in args.items()
    }


def _json_or_text(text: str) -> Any:
    try:
        return _json_from_text(text)
    except InvalidAnswer:  # not JSON (or too deep): the schema check reports the text as sent
        return text


def _optional_text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidAnswer(f"{where}: the message must be text, not {type(value).__name__}.")
    return value.strip() or None


def _check_decision(
    decision: Decision,
    edited_name: str | None,
    request: ApprovalRequest,
    position: int,
    validate_args: ArgsValidator | None,
) -> Decision:
    """Enforce the review config and the action's argument schema on one decision."""
    action = request["action_requests"][position]
    allowed = _allowed(request, position)
    if decision["type"] not in allowed:
        raise InvalidAnswer(
            f"{decision['type']!r} is not allowed for {action['name']!r}; "
            f"allowed: {', '.join(allowed)}."
        )
    if decision["type"] != "edit":
        return decision
    args = decision["args"]
    if edited_name not in (None, action["name"]):
        raise InvalidAnswer(
            f"An edit may change the arguments of {action['name']!r}, not the action "
            f"(got {shown(edited_name)})."
        )
    if validate_args is not None:
        try:
            args = validate_args(action["name"], args)
        except ValueError as error:
            raise InvalidAnswer(
                f"Edited arguments for {action['name']!r} are invalid: "
                f"{cut(describe_error(error), 400)}"
            ) from None
    try:  # what validation made of them (text "NaN" may become a float) must be JSON too
        check_bounds(args)
    except OutOfBounds as error:
        raise InvalidAnswer(f"Edited arguments for {action['name']!r}: {error}") from None
    return EditDecision(type="edit", args=args)


def describe_error(error: ValueError) -> str:
    """A one-paragraph account of a validation error (pydantic errors are long)."""
    errors = getattr(error, "errors", None)
    if callable(errors):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'args'}: {e['msg']}" for e in errors()
        )
    return str(error)
