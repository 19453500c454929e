"""The real Agent Inbox, built from its repository, against the real server (`make interop`).

Three payments raised by alice show in its list as three rows with their summaries; bob,
signed in through the "LangSmith API Key" field, sees a payment's amount in its form, accepts
one (it runs once) and rejects another by typing a response; alice's accept of her own
request is refused and the request stays pending. What the page sent is written to
`test-output/agent_inbox_requests.json`, and with `SIGNOFF_RECORD_AGENT_INBOX=1` to the
fixture `test_agent_inbox_replay.py` replays in `make test`.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from signoff.execution.ledger import read_entries
from tests.agent_inbox_app import (
    RECORDING,
    SUMMARIES,
    AgentInboxSession,
    Recording,
    agent_inbox_url,
    raise_payments,
)
from tests.browser import OUTPUT, chromium, screenshot

pytestmark = pytest.mark.interop


async def test_agent_inbox_lists_decides_and_is_refused_as_signoff_says(
    server: Any, clients: Any
) -> None:
    alice = clients("alice")
    threads = await raise_payments(alice)
    recording = Recording(server.url)
    with agent_inbox_url() as app:
        async with chromium() as browser:
            bob = await AgentInboxSession.open(browser, app, server.url)
            recording.watch(bob.page)
            await bob.add_inbox("approve_reject", "signoff payments")
            await bob.sign_in("dapi-dev-bob")
            rows = await bob.interrupted()
            for summary in SUMMARIES:
                assert sum(summary in row for row in rows) == 1, (summary, rows)
            await screenshot(bob.page, "agent-inbox-list")

            await bob.open_thread(threads["small"])
            shown = await bob.shown_arguments()
            assert shown["Amount"] == "5000.0" and shown["Target"] == "acct-1", shown
            await screenshot(bob.page, "agent-inbox-request")
            assert await bob.accept() == "Success"
            await bob.interrupted()
            await bob.open_thread(threads["large"])
            assert await bob.respond("Not this quarter.") == "Success"

            owner = await AgentInboxSession.open(browser, app, server.url)
            recording.watch(owner.page)
            await owner.add_inbox("approve_reject", "my payments")
            await owner.sign_in("dapi-dev-alice")
            await owner.interrupted()
            await owner.open_thread(threads["offshore"])
            assert await owner.accept() == "Error"  # Agent Inbox shows no server text
            await screenshot(owner.page, "agent-inbox-refused")

    small = await alice.threads.get_state(threads["small"])
    assert small["values"]["status"] == "executed"
    ledger = [e for e in read_entries(server.ledger) if e["thread_id"] == threads["small"]]
    assert len(ledger) == 1
    large = await alice.threads.get_state(threads["large"])
    assert (large["values"]["status"], large["values"]["reason"]) == (
        "rejected",
        "Not this quarter.",
    )
    offshore = await alice.threads.get(threads["offshore"])
    assert offshore["status"] == "interrupted"

    sent = recording.requests
    unsigned = [r for r in sent if "x-api-key" not in r["headers"]]
    assert all(r["status"] == 401 for r in unsigned), unsigned  # before a key is given
    assert any(r["headers"].get("x-api-key") == "dapi-dev-bob" and r["status"] == 200 for r in sent)
    refused = [
        r for r in sent if r["headers"].get("x-api-key") == "dapi-dev-alice" and r["status"] == 403
    ]
    assert refused, "alice's accept of her own request was not refused"
    recorded = recording.with_placeholders({v: k for k, v in threads.items()})
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "agent_inbox_requests.json").write_text(json.dumps(recorded, indent=2) + "\n")
    if os.environ.get("SIGNOFF_RECORD_AGENT_INBOX") == "1":
        RECORDING.write_text(json.dumps(recorded, indent=2) + "\n")
