"""The side doors of the run API, through the real server: each attack an ordinary sign-in
could make is refused with a status and a message naming what would be allowed, and the
request is still pending, listed and answerable by the right person.

The same rules under random interleavings of every user's turns are the stateful property
test in process (`tests/unit/test_side_doors.py`); here is what only the server proves: its
auth handlers wired to them, its own thread records, searches, store and custom routes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.dev_users import TOKENS
from tests.integration.conftest import Flow
from tests.integration.test_authorization import refused_with, still_pending
from tests.langgraph_server import LanggraphServer
from tests.webhook_receiver import WebhookReceiver

PAYMENT = {"operation": {"kind": "payment", "amount": 5000, "target": "acct-9"}}
DEPLOY = {"action": {"name": "deploy_release", "args": {"env": "staging"}}}
PHISHING = {
    "operation": {
        "kind": "<https://evil.example|Approve now> <!channel>",
        "amount": 5000,
        "target": "acct-9",
    }
}


@pytest.fixture
async def assistants(admin) -> dict[str, str]:
    """Assistants an admin made: one whose requests escalate to security at once, one whose
    requests expire at once, and one of edit_state."""
    contexts = {
        "escalating": (
            "approve_reject",
            {"escalate_after_seconds": 0.001, "escalate_to": "security"},
        ),
        "expiring": ("approve_reject", {"expire_after_seconds": 0.001}),
        "edit_state": ("edit_state", {}),
    }
    return {
        name: (await admin.assistants.create(graph, context=context))["assistant_id"]
        for name, (graph, context) in contexts.items()
    }


async def listed_for(client, thread_id: str) -> bool:
    """Whether `client`'s search of pending threads finds `thread_id`."""
    found = await client.threads.search(status="interrupted", limit=1000)
    return thread_id in {thread["thread_id"] for thread in found}


async def pending_and_answerable(run: Flow, clients, request: dict[str, Any]) -> None:
    """The request is still pending, listed for a decider and unchanged (its policy
    included), and a manager's answer executes it once."""
    await still_pending(run, request["request_id"])
    assert await listed_for(clients("bob"), run.thread_id)
    now = await run.request()
    for term in ("decided_by", "escalate_to", "escalates_at", "expires_at", "args_digest"):
        assert now.get(term) == request.get(term), term
    result = await run.resume("approve", as_user="bob")
    assert result["status"] == "executed" and len(run.executions()) == 1
    assert result["audit"][-1]["reviewer"] == "bob@signoff.local"


async def test_another_assistant_or_graph_cannot_widen_expire_or_hide_a_pending_request(
    flow, clients, assistants
):
    run = flow("approve_reject")
    await run.start(PAYMENT)
    request = await run.request()
    own = (await run.client.threads.get(run.thread_id))["metadata"]["assistant_id"]
    carol, alice = clients("carol"), clients("alice")
    detail = await refused_with(403, run.resume("approve", as_user="erin"))  # sees, may not decide
    assert "needs a member of managers" in detail
    for assistant in assistants.values():  # carol may not even see the thread
        detail = await refused_with(404, carol.runs.wait(run.thread_id, assistant, input=None))
        assert "that carol@signoff.local may see" in detail and "signoff-admins" in detail
    for name in ("escalating", "expiring"):
        for run_kwargs in ({"input": None}, {"command": {"resume": "withdraw"}}):
            detail = await refused_with(
                409, alice.runs.wait(run.thread_id, assistants[name], **run_kwargs)
            )
            assert f"Run it with assistant_id {own}" in detail
    detail = await refused_with(409, alice.runs.wait(run.thread_id, assistants["edit_state"]))
    assert "runs graph 'approve_reject'" in detail and f"Run it with assistant {own}" in detail
    detail = await refused_with(409, alice.runs.wait(run.thread_id, run.graph, input=None))
    assert request["request_id"] in detail and "Answer it" in detail
    await pending_and_answerable(run, clients, request)


async def test_an_early_expiry_and_an_answer_to_nothing_are_refused(flow, clients):
    run = flow("approve_reject")
    await run.start(PAYMENT)
    request = await run.request()
    expire = {"type": "expire", "request_id": request["request_id"]}
    detail = await refused_with(403, run.resume(expire, as_user="alice"))
    assert "cannot be expired before" in detail and "managers" in detail
    await pending_and_answerable(run, clients, request)
    detail = await refused_with(409, run.resume("approve", as_user="bob"))  # he decided it
    assert "waits on no request, so there is nothing to answer" in detail
    assert len(run.executions()) == 1


async def test_input_past_the_limits_is_refused_and_every_view_still_answers(flow, server):
    run = flow("multi_stage_approval")
    deep = {"action": {"name": "x", "args": {"nested": json.loads("[" * 246 + "]" * 246)}}}
    detail = await refused_with(422, run.start(deep))
    assert "The input is nested deeper than 32 levels" in detail
    huge = {"operation": {"amount": 5000, "target": "x" * 70_000}}
    assert "larger than 65,536 bytes" in await refused_with(422, run.start(huge))
    nested = {"note": json.loads("[" * 40 + "]" * 40)}
    detail = await refused_with(422, run.client.threads.create(metadata=nested))
    assert "The thread metadata is nested deeper than 32 levels" in detail
    assert isinstance(await run.client.threads.search(status="interrupted", limit=5), list)
    async with metrics_client(server, TOKENS["dave"]) as http:
        assert (await http.get("/signoff/metrics")).status_code == 200


async def test_a_chain_runs_only_the_arguments_every_stage_approved(flow, admin):
    run = flow("multi_stage_approval")
    await run.start(DEPLOY)
    await run.resume("approve", as_user="bob")  # the manager approves staging
    production = {"name": "deploy_release", "args": {"env": "production"}, "description": ""}
    await admin.threads.update_state(run.thread_id, {"action": production}, as_node="plan_chain")
    await run.client.runs.wait(run.thread_id, run.graph, input=None)  # shown again, as it is
    manager_again = await run.request()  # the manager approved staging, not production
    assert manager_again["stage"] == "manager" and manager_again["earlier_decisions"] == []
    assert manager_again["action_requests"][0]["args"] == {"env": "production"}
    assert manager_again["chain"]["stages"] == ["manager", "security"]
    await run.resume("approve", as_user="bob")
    security = await run.request()
    assert [e["args_after"] for e in security["earlier_decisions"]] == [{"env": "production"}]
    assert run.executions() == []
    result = await run.resume("approve", as_user="carol")
    [execution] = run.executions()
    assert result["status"] == "executed" and execution["details"] == {"env": "production"}
    latest = [e for e in result["audit"] if e["decision"] == "approve"][-2:]
    assert [e["args_after"] for e in latest] == [{"env": "production"}] * 2
    assert all(e["args_digest"] and e["chain"]["stages"] for e in latest)


async def test_cutting_a_chains_stages_after_it_was_raised_runs_nothing(flow, admin):
    run = flow("multi_stage_approval")
    await run.start(DEPLOY)
    await run.resume("approve", as_user="bob")
    await admin.threads.update_state(run.thread_id, {"stages": ["manager"]}, as_node="plan_chain")
    await run.client.runs.wait(run.thread_id, run.graph, input=None)
    assert (await run.request())["stage"] == "security"  # still asked: the chain as raised
    assert run.executions() == []
    result = await run.resume("approve", as_user="carol")
    assert result["status"] == "executed" and len(run.executions()) == 1


async def test_a_malformed_audit_write_is_refused_and_the_inbox_and_stats_answer(
    flow, admin, server
):
    run = flow("approve_reject")
    await run.start(PAYMENT)
    request = await run.request()
    for audit in ("not entries", [1, 2], [{"decision": "approve"}]):
        write = admin.threads.update_state(run.thread_id, {"audit": audit})
        assert "must write a list of audit entries" in await refused_with(400, write)
    await still_pending(run, request["request_id"])
    async with inbox_as(server, "dave") as http:
        assert (await http.get("/inbox")).status_code == 200
    stats = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("signoff")),
        "stats",
        "--json",
        "--url",
        server.url,
        env={"SIGNOFF_TOKEN": TOKENS["dave"]},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await stats.communicate()
    assert stats.returncode == 0 and "approve_reject" in json.loads(out)["pending_by_graph"]


async def test_stateless_runs_are_refused_and_a_kept_one_keeps_its_trail(client):
    detail = await refused_with(422, client.runs.wait(None, "approve_reject", input=PAYMENT))
    assert "Stateless runs are refused" in detail and "on_completion='keep'" in detail
    kept = await client.runs.create(
        None,
        "approve_reject",
        input={"operation": {"amount": 5, "target": "a"}},
        on_completion="keep",
    )
    result = await client.runs.join(kept["thread_id"], kept["run_id"])
    assert result["status"] == "executed"
    assert (await client.threads.get_state(kept["thread_id"]))["values"]["audit"]


async def test_a_thread_is_seen_only_by_its_requester_deciders_and_admins(flow, clients, server):
    run = flow("approve_reject")
    await run.start(PAYMENT)
    for name in ("alice", "bob", "dave", "erin"):  # requester, managers, admin
        assert (await clients(name).threads.get_state(run.thread_id))["values"]
    assert await listed_for(clients("dave"), run.thread_id)
    assert not await listed_for(clients("carol"), run.thread_id)
    detail = await refused_with(404, clients("carol").threads.get_state(run.thread_id))
    assert "that carol@signoff.local may see" in detail
    await refused_with(404, clients("carol").threads.get_history(run.thread_id))
    await refused_with(404, clients("carol").runs.list(run.thread_id))
    async with inbox_as(server, "carol") as http:
        page = await http.get(f"/inbox/{run.thread_id}")
        assert page.status_code == 404 and "may see" in page.text and "acct-9" not in page.text
    await run.resume("approve", as_user="bob")
    assert (await clients("bob").threads.get_state(run.thread_id))["values"]  # he decided it
    await refused_with(404, clients("dave").threads.get_state(run.thread_id))  # nothing to decide


async def test_the_store_keeps_each_users_items_their_own(clients):
    alice, bob, erin = clients("alice"), clients("bob"), clients("erin")
    mine = ("alice@signoff%2Elocal", "notes")
    await alice.store.put_item(mine, "k", {"secret": 1})
    detail = await refused_with(403, bob.store.get_item(mine, "k"))
    assert "start with 'bob@signoff%2Elocal'" in detail
    await refused_with(403, bob.store.put_item(mine, "k", {"secret": 2}))
    await refused_with(403, bob.store.delete_item(mine, "k"))
    assert (await alice.store.get_item(mine, "k"))["value"] == {"secret": 1}
    listed = await bob.store.list_namespaces()
    assert all(n[0] == "bob@signoff%2Elocal" for n in listed["namespaces"])
    assert (await erin.store.get_item(mine, "k"))["value"] == {"secret": 1}  # admins: all


async def test_admin_only_run_parameters_copies_and_other_peoples_cancels(flow, clients, admin):
    run = flow("approve_reject")
    await run.start(PAYMENT)
    request = await run.request()
    bob, alice = clients("bob"), clients("alice")
    answer = {"resume": "approve"}
    for kwargs in (
        {"interrupt_before": ["execute"]},
        {"interrupt_after": ["review"]},
        {"multitask_strategy": "interrupt"},
        {"multitask_strategy": "rollback"},
        {"checkpoint": {"checkpoint_ns": "x"}},
    ):
        detail = await refused_with(
            403, bob.runs.wait(run.thread_id, run.graph, command=answer, **kwargs)
        )
        assert "only members of signoff-admins may" in detail
    detail = await refused_with(403, alice.threads.copy(run.thread_id))
    assert "copy threads" in detail
    metadata = {"signoff_viewers": ["group:users"]}
    assert "only the server sets" in await refused_with(
        422, alice.threads.create(metadata=metadata)
    )
    started = await alice.runs.create(None, "approve_reject", input=PAYMENT, on_completion="keep")
    detail = await refused_with(403, bob.runs.cancel(started["thread_id"], started["run_id"]))
    assert "only its starter or an admin may cancel it" in detail
    await still_pending(run, request["request_id"])
    assert (await admin.threads.copy(run.thread_id))["thread_id"] != run.thread_id


async def test_inbox_sign_in_and_out_accept_only_forms_from_the_inbox(server):
    async with httpx.AsyncClient(base_url=server.url) as http:
        for origin in ({"Origin": "https://evil.example"}, {}):
            forged = await http.post(
                "/inbox/sign-in", data={"token": TOKENS["bob"]}, headers=origin
            )
            assert forged.status_code == 403 and "signoff_session" not in forged.cookies
            assert "only from the inbox" in forged.text
            assert (await http.post("/inbox/sign-out", headers=origin)).status_code == 403
        ours = await http.post(
            "/inbox/sign-in",
            data={"token": TOKENS["bob"]},
            headers={"Referer": f"{server.url}/inbox"},
        )
        assert ours.status_code == 303 and "signoff_session" in ours.cookies


async def test_metrics_need_a_token_and_name_how_to_send_one(server):
    async with metrics_client(server, None) as http:
        refused = await http.get("/signoff/metrics")
    assert refused.status_code == 401 and "SIGNOFF_METRICS_TOKEN" in refused.text
    async with metrics_client(server, "dapi-made-up") as http:
        assert (await http.get("/signoff/metrics")).status_code == 401


async def test_slack_notices_show_a_crafted_operation_as_text(flow, admin, server, tmp_path):
    reminding = await admin.assistants.create("approve_reject", context={"remind_after_seconds": 1})
    run = flow("approve_reject")
    await run.start(PHISHING, assistant=reminding["assistant_id"])
    await asyncio.sleep(1.2)  # its reminder is due
    slack_env = {
        "SIGNOFF_TOKEN": TOKENS["erin"],
        "SIGNOFF_OUTBOX": str(tmp_path / "outbox.sqlite"),
        "SIGNOFF_WEBHOOK_FORMAT": "slack",
    }
    with WebhookReceiver() as slack:  # `signoff sweep` reminds, and posts to "Slack"
        sweep = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "signoff.client.cli",
            "sweep",
            "--url",
            server.url,
            env={**os.environ, **slack_env, "SIGNOFF_WEBHOOK_URL": slack.url},
        )
        assert await sweep.wait() == 0
        texts = [json.loads(request.body)["text"] for request in slack.requests]
    [text] = [text for text in texts if "evil.example" in text]
    assert "&lt;https://evil.example|Approve now&gt; &lt;!channel&gt;" in text
    assert text.count("<") == 1 and text.endswith("|open>")


def metrics_client(server: LanggraphServer, token: str | None) -> httpx.AsyncClient:
    """An HTTP client of `server` sending `token` as a bearer token (none: no header)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=server.url, headers=headers)


@asynccontextmanager
async def inbox_as(server: LanggraphServer, name: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of `server`'s inbox, signed in as development user `name` through the
    inbox's own sign-in form."""
    async with httpx.AsyncClient(base_url=server.url, headers={"Origin": server.url}) as http:
        signed = await http.post("/inbox/sign-in", data={"token": TOKENS[name]})
        http.cookies.set("signoff_session", signed.cookies["signoff_session"], path="/inbox")
        yield http
