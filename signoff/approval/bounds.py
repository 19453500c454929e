"""The limits on what a reviewer's answer may be, checked before anything else reads it.

An answer is read only if it is a JSON value of at most `MAX_ANSWER_BYTES` (as compact JSON)
nested at most `MAX_DEPTH` deep. The check walks the value iteratively and stops at the first
limit it crosses, so no answer, however large, deep or even cyclic, can exhaust the stack or
the time of the node that reads it. Text that looks like JSON is held to the same limits
before and after it is parsed, and edited arguments are checked again after validation (a
schema may turn the text "NaN" into a float).
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_ANSWER_BYTES = 64 * 1024
"""The largest answer read, in bytes of compact JSON (text answers: bytes of UTF-8)."""

MAX_DEPTH = 32
"""The deepest nesting of lists and objects read (a langchain edit decision needs about 5
levels plus the depth of the edited arguments)."""

SHOWN_CHARACTERS = 80
"""How much of a reviewer-supplied value an error message quotes."""


class AnswerOutOfBounds(ValueError):
    """The answer is not JSON, too large or nested too deep; `str(error)` says which limit."""


def check_bounds(answer: Any) -> None:
    """Raise `AnswerOutOfBounds` unless `answer` is a JSON value within the limits."""
    if isinstance(answer, str):
        _check_size(_text_size(answer))
        return
    size = 0
    stack: list[tuple[Any, int]] = [(answer, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise AnswerOutOfBounds(
                f"The answer is nested deeper than {MAX_DEPTH} levels of lists and objects."
            )
        size += _scalar_size(value) if not isinstance(value, dict | list) else 2
        _check_size(size)
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise AnswerOutOfBounds(
                        f"The answer is not a JSON value: an object key is a "
                        f"{type(key).__name__}, not text."
                    )
                size += _text_size(key) + 4
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            size += len(value)
            stack.extend((item, depth + 1) for item in value)


def check_text_depth(text: str) -> None:
    """Raise `AnswerOutOfBounds` if JSON `text` opens more than `MAX_DEPTH` lists or objects
    at once (checked before parsing, so the parser never recurses that deep)."""
    depth, in_string, escaped = 0, False, False
    for character in text:
        if in_string:
            if escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                in_string = False
        elif character == '"':
            in_string = True
        elif character in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise AnswerOutOfBounds(
                    f"The answer is nested deeper than {MAX_DEPTH} levels of lists and objects."
                )
        elif character in "]}":
            depth -= 1


def shown(value: Any) -> str:
    """`repr(value)`, cut to `SHOWN_CHARACTERS`, for quoting reviewer input in an error."""
    return cut(repr(value))


def cut(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """`text`, or its first `limit` characters and how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text)} characters)"


def _scalar_size(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 5
    if isinstance(value, str):
        return _text_size(value) + 2
    if isinstance(value, int):
        return value.bit_length() * 30103 // 100000 + 2
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AnswerOutOfBounds(f"The answer is not a JSON value: {value} is not a number.")
        return len(json.dumps(value))
    raise AnswerOutOfBounds(
        f"The answer is not a JSON value: a {type(value).__name__} is not JSON."
    )


def _text_size(text: str) -> int:
    if len(text) > MAX_ANSWER_BYTES:  # at least one byte per character
        return len(text)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise AnswerOutOfBounds(
            "The answer is not valid text: it holds an unpaired UTF-16 surrogate."
        ) from None


def _check_size(size: int) -> None:
    if size > MAX_ANSWER_BYTES:
        raise AnswerOutOfBounds(
            f"The answer is larger than {MAX_ANSWER_BYTES:,} bytes of JSON; send a shorter one."
        )
