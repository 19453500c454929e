"""The README's webhook receiver works as written: it verifies what signoff signs, refuses
what it did not, and drops a redelivered event."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from signoff.notify import signature

README = Path(__file__).resolve().parents[2] / "README.md"
[EXAMPLE] = re.findall(r"```py\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.fixture
def receive() -> Any:
    """The example's `receive`, with its secret."""
    namespace: dict[str, Any] = {}
    exec(compile(EXAMPLE, "README receiver example", "exec"), namespace)  # noqa: S102
    return namespace["receive"], namespace["SECRET"].decode()


def test_the_readme_receiver_verifies_parses_and_drops_duplicates(receive):
    handle, secret = receive
    body = json.dumps({"id": "event-1", "type": "approval.decided"}).encode()
    headers = {"X-Signoff-Signature": signature(body, secret)}
    assert handle(body, headers)["type"] == "approval.decided"
    assert handle(body, headers) is None  # a retry of the same event
    with pytest.raises(PermissionError):
        handle(body.replace(b"decided", b"expired"), headers)
