"""The `signoff` command line against the real server: list, show, decide, audit, stats, with
the same identities and refusals as the SDK; in an 80-column terminal (a real pseudo-terminal)
and piped; thread ids by their start."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import tempfile
import termios
import uuid
from typing import Any

from rich.cells import cell_len

from signoff.client.cli import PENDING_FIELDS
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


THREAD_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TERMINAL_CODES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def in_terminal(server, user: str, columns: int, *args: str) -> tuple[int, list[str], str]:
    """Run `signoff ARGS` as `user` with its standard input and output a pseudo-terminal
    `columns` wide (no COLUMNS, nothing forced: it finds out as in a terminal); its exit
    status, the lines it showed (without colour codes) and its standard error."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    forced = ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR", "TERM")
    env = {k: v for k, v in os.environ.items() if k not in forced}
    env |= {"SIGNOFF_TOKEN": TOKENS[user], "TERM": "xterm-256color"}
    command = [sys.executable, "-m", "signoff.client.cli", "--url", server.url, *args]
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=errors, env=env)
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        os.close(leader)
        status = process.wait(timeout=120)
        errors.seek(0)
        error_text = errors.read().decode("utf-8", "replace")
    text = TERMINAL_CODES.sub("", shown.decode("utf-8")).replace("\r\n", "\n")
    return status, text.splitlines(), error_text


async def payments(flow, tag: str) -> dict[str, tuple[str, str]]:
    """Three payments alice raises, of 5,000, 12,500 and 980,000 to three accounts: thread id
    → (amount as shown, account)."""
    raised = {}
    for amount, account in ((5000, "north"), (12500, "east"), (980000, "off")):
        run = flow("approve_reject")
        target = f"acct-{account}-{tag}"
        await run.start({"operation": {"kind": "payment", "amount": amount, "target": target}})
        raised[run.thread_id] = (f"{amount:,}", target)
    return raised


def rows_of(lines: list[str]) -> dict[str, str]:
    """A table's rows by the thread id that starts them: the row's lines, joined."""
    starts = [n for n, line in enumerate(lines) if THREAD_ID.match(line)]
    return {
        THREAD_ID.match(lines[start])[0]: " ".join(lines[start:end])  # type: ignore[index]
        for start, end in zip(starts, [*starts[1:], len(lines)], strict=True)
    }


async def test_pending_in_an_80_column_terminal_shows_whole_ids_and_what_each_asks(flow, server):
    tag = uuid.uuid4().hex[:6]
    raised = await payments(flow, tag)
    status, lines, errors = await asyncio.to_thread(
        in_terminal, server, "bob", 80, "pending", "--graph", "approve_reject"
    )
    assert status == 0, (lines, errors)
    assert all(cell_len(line) <= 80 for line in lines), lines
    assert any("May decide" in line and "Waiting" in line for line in lines)
    rows = rows_of(lines)
    for thread_id, (amount, account) in raised.items():
        row = rows[thread_id]  # the whole id starts its row
        others = [shown for other, shown in raised.items() if other != thread_id]
        assert "payment of" in row and amount in row and account in row and "managers" in row
        assert not any(f" {a} " in row or o in row for a, o in others)


async def test_piped_pending_is_tab_separated_lines_with_full_ids_and_summaries(flow, server):
    tag = uuid.uuid4().hex[:6]
    raised = await payments(flow, tag)
    piped = await signoff(server, "bob", "pending", "--graph", "approve_reject")
    assert piped.returncode == 0, piped.stdout + piped.stderr
    assert "\x1b" not in piped.stdout and "─" not in piped.stdout  # no colour, no borders
    assert not re.search(r"^\d+ pending$", piped.stdout, re.MULTILINE)  # no title
    lines = [
        dict(zip(PENDING_FIELDS, line.split("\t"), strict=True))
        for line in piped.stdout.splitlines()
    ]
    by_thread = {line["thread_id"]: line for line in lines}
    for thread_id, (amount, account) in raised.items():
        line = by_thread[thread_id]
        assert line["summary"] == f"payment of {amount} USD to {account}"
        assert (line["action"], line["graph"], line["stage"]) == (
            "Payment",
            "approve_reject",
            "review",
        )
        assert line["requested_by"] == "alice@signoff.local" and "managers" in line["may_decide"]
    rows = as_json(await signoff(server, "bob", "pending", "--graph", "approve_reject", "--json"))
    for row in rows:
        line = by_thread[row["thread_id"]]
        assert (line["summary"], line["request_id"]) == (row["summary"], row["request_id"])


async def start_on(client, thread_id: str, amount: int, target: str) -> None:
    """alice raises a payment on a new thread of the given id."""
    await client.threads.create(thread_id=thread_id)
    operation = {"kind": "payment", "amount": amount, "target": target}
    await client.runs.wait(thread_id, "approve_reject", input={"operation": operation})


async def test_a_thread_is_named_by_the_start_of_its_id_among_those_the_caller_sees(client, server):
    start = uuid.uuid4().hex[:8]  # two threads whose ids share their first 8 digits
    larger = f"{start}-1111-4111-8111-{uuid.uuid4().hex[:12]}"  # managers and finance decide
    smaller = f"{start}-2222-4222-8222-{uuid.uuid4().hex[:12]}"  # managers only
    await start_on(client, larger, 12500, "acct-large")
    await start_on(client, smaller, 5000, "acct-small")

    for command in (("show", start), ("approve", start), ("reject", start, "--reason", "no")):
        unclear = await signoff(server, "bob", *command)
        assert unclear.returncode == 1, unclear.stdout
        assert f"2 threads you can see start with '{start}'" in unclear.stdout
        for thread_id, summary in (
            (larger, "payment of 12,500 USD to acct-large"),
            (smaller, "payment of 5,000 USD to acct-small"),
        ):
            assert f"  {thread_id}  {summary}" in unclear.stdout
    for thread_id in (larger, smaller):  # nothing was answered
        assert (await client.threads.get(thread_id))["status"] == "interrupted"

    # frank (finance) sees only the larger one: the same start names it for him
    shown = await signoff(server, "frank", "show", start)
    assert shown.returncode == 0, shown.stdout
    assert shown.stdout.startswith("payment of 12,500 USD to acct-large\n")
    assert larger in shown.stdout and smaller not in shown.stdout
    hidden = await signoff(server, "frank", "show", smaller[:13])
    assert hidden.returncode == 1
    assert f"No thread you can see starts with '{smaller[:13]}'" in hidden.stdout
    assert "`signoff pending` lists" in hidden.stdout

    approved = await signoff(server, "bob", "approve", f"{start}2222", "--comment", "ok")
    assert approved.returncode == 0, approved.stdout
    assert "Approved: payment of 5,000 USD to acct-small" in approved.stdout
    assert smaller in approved.stdout
    values = (await client.threads.get_state(smaller))["values"]
    assert values["status"] == "executed" and values["reviewers"] == ["bob@signoff.local"]
    assert (await client.threads.get(larger))["status"] == "interrupted"

    audit = as_json(await signoff(server, "bob", "audit", smaller[:18], "--json"))
    assert audit["audit"][0]["decision"] == "approve"
    grant = await signoff(
        server,
        "bob",
        "grant",
        "approve_reject",
        "--for-thread",
        larger[:13],
        "--arg",
        "amount<=5000",
        "--single-use",
        "--json",
    )
    made = as_json(grant)
    assert made["covers"] == {"thread": larger}
    listed = (await signoff(server, "bob", "grants")).stdout.splitlines()
    [line] = [line.split("\t") for line in listed if line.startswith(made["id"])]
    assert line[1:4] == ["amount <= 5000", "approve_reject", f"thread {larger}"]
    assert (await signoff(server, "bob", "revoke", made["id"])).returncode == 0

    short = await signoff(server, "bob", "show", start[:3])
    assert short.returncode == 1 and "give at least 4 characters" in short.stdout
    wrong = await signoff(server, "bob", "approve", "not-an-id")
    assert wrong.returncode == 1 and "is not a thread id or the start of one" in wrong.stdout


async def test_show_in_a_terminal_puts_the_summary_first_then_the_conversation(flow, server):
    run = flow("review_tool_calls")
    asked = f"refund 7 on order 21 because broken {run.tag} and cancel run 5"
    await run.start({"messages": [{"role": "user", "content": asked}]})
    status, lines, errors = await asyncio.to_thread(
        in_terminal, server, "bob", 80, "show", run.thread_id
    )
    assert status == 0, (lines, errors)
    assert all(cell_len(line) <= 80 for line in lines), lines
    assert lines[0].rstrip() == "Issue refund of 7 for order 21"
    assert any(run.thread_id in line for line in lines)
    said = lines.index("  The conversation that led to it:")
    shown = " ".join(" ".join(lines[said:]).split())
    assert f"user: {asked}" in shown
    assert "model: I would cancel run 5, but no `terminate_databricks_job` tool" in shown
    assert shown.index("model: ") < shown.index('"order_id": 21')
    assert "main__support__issue_refund" not in " ".join(lines)
