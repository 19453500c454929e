"""The `signoff` command line against the real server: list, show, decide, audit, stats, with
the same identities and refusals as the SDK."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

from tests.dev_users import TOKENS

PAYMENT = {"operation": {"kind": "payment", "amount": 5000, "target": "acct-9"}}
BRIEF = {"brief": {"to": ["ops@example.com"], "topic": "the outage"}}


async def signoff(server, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `signoff ARGS` as development user `user` against `server`, holding the server's
    audit key (as an auditor verifying its trail would)."""
    key_file = server.workdir / ".signoff" / "audit.key"  # made when it first signs
    key = key_file.read_text(encoding="utf-8").strip() if key_file.exists() else ""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "signoff.client.cli", "--url", server.url, *args],
        env={
            **os.environ,
            "SIGNOFF_TOKEN": TOKENS[user],
            **({"SIGNOFF_AUDIT_KEY": key} if key else {}),
            "COLUMNS": "200",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    """The JSON a command printed (asserts it succeeded)."""
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


async def test_pending_lists_the_request_and_show_explains_it(flow, server):
    run = flow("approve_reject")
    await run.start(PAYMENT)
    rows = as_json(await signoff(server, "bob", "pending", "--graph", "approve_reject", "--json"))
    [row] = [r for r in rows if r["thread_id"] == run.thread_id]
    assert (row["stage"], row["action"], row["requested_by"]) == (
        "review",
        "payment",
        "alice@signoff.local",
    )
    [request] = as_json(await signoff(server, "bob", "show", run.thread_id, "--json"))
    assert request["action_requests"][0]["args"]["amount"] == 5000
    shown = await signoff(server, "bob", "show", run.thread_id)
    assert shown.returncode == 0 and "allowed: approve, reject" in shown.stdout


async def test_a_refused_decision_exits_non_zero_with_the_servers_reason(flow, server):
    run = flow("approve_reject")
    await run.start(PAYMENT)
    refused = await signoff(server, "alice", "approve", run.thread_id)
    assert refused.returncode == 1 and "needs a member of managers" in refused.stdout
    approved = await signoff(server, "bob", "approve", run.thread_id, "--comment", "INV-7 ok")
    assert approved.returncode == 0, approved.stdout
    values = await run.values()
    assert values["status"] == "executed" and values["reviewers"] == ["bob@signoff.local"]
    assert values["audit"][0]["comment"] == "INV-7 ok"


async def test_an_invalid_edit_exits_non_zero_then_a_valid_one_sends(flow, server):
    run = flow("edit_state")
    await run.start(BRIEF)
    draft = (await run.request())["action_requests"][0]["args"]
    bad = await signoff(
        server, "bob", "edit", run.thread_id, "--args", json.dumps({**draft, "to": []})
    )
    assert bad.returncode == 1 and "Edited arguments for 'send_message' are invalid" in bad.stdout
    fixed = {**draft, "subject": "Resolved"}
    good = await signoff(server, "bob", "edit", run.thread_id, "--args", json.dumps(fixed))
    assert good.returncode == 0, good.stdout
    assert (await run.values())["status"] == "sent"


async def test_reject_withdraw_audit_and_stats(flow, server):
    rejected, withdrawn = flow("approve_reject"), flow("approve_reject")
    await rejected.start(PAYMENT)
    await withdrawn.start(PAYMENT)
    assert (
        await signoff(server, "bob", "reject", rejected.thread_id, "--reason", "no")
    ).returncode == 0
    assert (await signoff(server, "alice", "withdraw", withdrawn.thread_id)).returncode == 0
    assert (await rejected.values())["reason"] == "no"
    assert (await withdrawn.values())["status"] == "withdrawn"
    audit = as_json(await signoff(server, "bob", "audit", rejected.thread_id, "--verify", "--json"))
    assert audit["verified"] is True and audit["audit"][0]["decision"] == "reject"
    stats = as_json(await signoff(server, "bob", "stats", "--json"))
    assert stats["decisions_today"]["reject"] >= 1
