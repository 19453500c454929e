"""The limits on what a client may send, checked before anything else reads it.

A reviewer's answer, a graph's input, a run's command and metadata, a thread's metadata, a
store value and an admin's state edit are taken only if each is a JSON value of at most
`MAX_BYTES` (as compact JSON) nested at most `MAX_DEPTH` deep: well below the 255 levels the
server's serializer refuses, so nothing stored can break a list, a page or the sweeper later.
The check walks the value iteratively and stops at the first limit it crosses, so no value,
however large, deep or even cyclic, can exhaust the stack or the time of whoever checks it.
Text that looks like JSON is held to the same limits before and after it is parsed, and
edited arguments are checked again after validation (a schema may turn the text "NaN" into a
float). Each refusal names the limit and what was refused (`subject`: "answer", "input"...).
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_BYTES = 64 * 1024
"""The largest value taken, in bytes of compact JSON (text: bytes of UTF-8)."""

MAX_DEPTH = 32
"""The deepest nesting of lists and objects read (a langchain edit decision needs about 5
levels plus the depth of the edited arguments)."""

SHOWN_CHARACTERS = 80
"""How much of a reviewer-supplied value an error message quotes."""


class OutOfBounds(ValueError):
    """The value is not JSON, too large or nested too deep; `str(error)` says which limit."""


class _Crossed(Exception):
    """A limit crossed; the text completes "The <subject> ..."."""


def check_bounds(value: Any, subject: str = "answer") -> None:
    """Raise `OutOfBounds` unless `value` is a JSON value within the limits; the message
    starts "The <subject> ..."."""
    try:
        _walk(value)
    except _Crossed as crossed:
        raise OutOfBounds(f"The {subject} {crossed}") from None


def check_text_depth(text: str, subject: str = "answer") -> None:
    """Raise `OutOfBounds` if JSON `text` opens more than `MAX_DEPTH` lists or objects
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
                raise OutOfBounds(f"The {subject} {_TOO_DEEP}")
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


_TOO_DEEP = f"is nested deeper than {MAX_DEPTH} levels of lists and objects."


def _walk(value: Any) -> None:
    if isinstance(value, str):
        _check_size(_text_size(value))
        return
    size = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _Crossed(_TOO_DEEP)
        size += _scalar_size(item) if not isinstance(item, dict | list) else 2
        _check_size(size)
        if isinstance(item, dict):
            for key, member in item.items():
                if not isinstance(key, str):
                    raise _Crossed(
                        f"is not a JSON value: an object key is a {type(key).__name__}, not text."
                    )
                size += _text_size(key) + 4
                stack.append((member, depth + 1))
        elif isinstance(item, list):
            size += len(item)
            stack.extend((member, depth + 1) for member in item)


def _scalar_size(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 5
    if isinstance(value, str):
        return _text_size(value) + 2
    if isinstance(value, int):
        return value.bit_length() * 30103 // 100000 + 2
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Crossed(f"is not a JSON value: {value} is not a number.")
        return len(json.dumps(value))
    raise _Crossed(f"is not a JSON value: a {type(value).__name__} is not JSON.")


def _text_size(text: str) -> int:
    if len(text) > MAX_BYTES:  # at least one byte per character
        return len(text)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise _Crossed("is not valid text: it holds an unpaired UTF-16 surrogate.") from None


def _check_size(size: int) -> None:
    if size > MAX_BYTES:
        raise _Crossed(f"is larger than {MAX_BYTES:,} bytes of JSON; send a shorter one.")
