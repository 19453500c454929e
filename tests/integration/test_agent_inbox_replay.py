"""Agent Inbox's exact requests, headers included, replayed against the real server.

`tests/fixtures/agent_inbox_requests.json` was recorded from a build of the real Agent Inbox
by `make interop` (`test_agent_inbox_app.py`): bob's list, his accept of a 5,000 payment and
his typed response to a 12,500 one, then alice's accept of her own 980,000 payment. Replayed
here on three payments raised the same way, each request gets the status it got then, and
the threads end as they did: the accepted payment ran once, the answered one was rejected
with bob's words, alice's own is still pending. What the list returned is read as Agent
Inbox reads it: the summary first in the description, every argument something it renders.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from signoff.execution.ledger import read_entries
from tests.agent_inbox_app import RECORDING, SUMMARIES, raise_payments


def replayed(entry: dict[str, Any], threads: dict[str, str]) -> dict[str, Any]:
    """`entry` with the recording's thread names (`{small}`) replaced by `threads`' ids."""
    text = json.dumps(entry)
    for name, thread_id in threads.items():
        text = text.replace("{" + name + "}", thread_id)
    return json.loads(text)


async def test_agent_inbox_requests_get_the_answers_they_got_from_the_recording(
    server: Any, clients: Any
) -> None:
    alice = clients("alice")
    threads = await raise_payments(alice)
    recording = json.loads(RECORDING.read_text())
    assert {r["method"] + " " + r["path"].split("/")[-1] for r in recording} >= {
        "POST search",
        "POST stream",
    }
    listing = next(r for r in recording if r["path"] == "/threads/search" and r["status"] == 200)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        # Agent Inbox's list, as bob's key asks for it, narrowed to these payments: the
        # session's server holds other tests' pending requests too.
        ours = {**listing["body"], "ids": list(threads.values())}
        listed = await http.post("/threads/search", headers=listing["headers"], json=ours)
        for entry in (replayed(r, threads) for r in recording):
            response = await http.request(
                entry["method"],
                entry["path"],
                headers=entry["headers"],
                content=json.dumps(entry["body"]) if entry["body"] is not None else None,
            )
            assert response.status_code == entry["status"], (entry, response.text[:500])

    small = await alice.threads.get_state(threads["small"])
    assert small["values"]["status"] == "executed"
    assert len([e for e in read_entries(server.ledger) if e["thread_id"] == threads["small"]]) == 1
    large = (await alice.threads.get_state(threads["large"]))["values"]
    assert (large["status"], large["reason"]) == ("rejected", "Not this quarter.")
    assert (await alice.threads.get(threads["offshore"]))["status"] == "interrupted"

    shown = {thread["thread_id"]: thread for thread in listed.json()}
    for name, summary in zip(("small", "large", "offshore"), SUMMARIES, strict=True):
        [[interrupt]] = shown[threads[name]]["interrupts"].values()
        action = interrupt["value"]["action_requests"][0]
        assert action["description"].startswith(summary)
        assert all(not isinstance(v, int | float) for v in action["arguments"].values())


async def test_a_key_beside_another_authorization_is_ignored_and_the_401_says_so(server):
    async with httpx.AsyncClient(base_url=server.url) as http:
        both = await http.post(
            "/threads/search",
            headers={"Authorization": "Basic Ym9iOg==", "x-api-key": "dapi-dev-bob"},
            json={},
        )
        key = await http.post("/threads/search", headers={"x-api-key": "dapi-dev-bob"}, json={})
    assert both.status_code == 401
    assert "x-api-key header was ignored" in both.text and "Bearer" in both.text
    assert key.status_code == 200
