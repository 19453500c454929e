"""The webhook receiver of docs/webhooks.md works as written: it verifies what signoff signs,
refuses what it did not, and drops a redelivered event."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from signoff.signals.webhooks import signature

WEBHOOKS_DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
[EXAMPLE] = re.findall(r"```py\n(.*?)```", WEBHOOKS_DOC.read_text(encoding="utf-8"), re.S)


@pytest.fixture
def receive() -> Any:
    """The example's `receive`, with its secret."""
    namespace: dict[str, Any] = {}
    exec(compile(EXAMPLE, "docs/webhooks.md receiver example", "exec"), namespace)  # noqa: S102
    return namespace["receive"], namespace["SECRET"].decode()


def test_the_documented_receiver_verifies_parses_and_drops_duplicates(receive):
    handle, secret = receive
    body = json.dumps({"id": "event-1", "type": "approval.decided"}).encode()
    headers = {"X-Signoff-Signature": signature(body, secret)}
    assert handle(body, headers)["type"] == "approval.decided"
    assert handle(body, headers) is None  # a retry of the same event
    with pytest.raises(PermissionError):
        handle(body.replace(b"decided", b"expired"), headers)
