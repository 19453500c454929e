"""Deadlines and webhooks through the real server: its own sweeper expires and escalates
requests nobody answers, and a local receiver gets every event, signed, at least once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk.errors import APIStatusError
from prometheus_client.parser import text_string_to_metric_families

from signoff.client.sweeper import sweep
from tests.dev_users import TOKENS, signed_in_clients
from tests.integration.conftest import Flow
from tests.langgraph_server import LanggraphServer, copy_project
from tests.webhook_receiver import WebhookReceiver

SECRET = "test-webhook-secret"
REFUSED = (APIStatusError, httpx.HTTPStatusError)
"""What the SDK raises for a refusal (403) from the server's auth."""
PAYMENT = {"operation": {"kind": "payment", "amount": 5000, "target": "acct-9"}}


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    """The webhook receiver every server of this module posts to."""
    with WebhookReceiver() as running:
        yield running


def deadline_server(
    workdir: Path, emulator, receiver: WebhookReceiver, sweep_seconds: int = 1
) -> LanggraphServer:
    """A server sweeping every `sweep_seconds`, posting signed webhooks to `receiver`, its
    checkpoints in SQLite in `workdir` (so a restart keeps them)."""
    return LanggraphServer(
        copy_project(workdir),
        env={
            "DATABRICKS_HOST": emulator.url,
            "DATABRICKS_TOKEN": emulator.token,
            "SIGNOFF_CHECKPOINTER": f"sqlite:///{workdir / 'checkpoints.sqlite'}",
            "SIGNOFF_SWEEP_SECONDS": str(sweep_seconds),
            "SIGNOFF_WEBHOOK_URL": receiver.url,
            "SIGNOFF_WEBHOOK_SECRET": SECRET,
        },
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory, emulator, receiver) -> Iterator[LanggraphServer]:
    """This module's server (see `deadline_server`)."""
    running = deadline_server(tmp_path_factory.mktemp("deadlines"), emulator, receiver).start()
    yield running
    running.stop()


@pytest.fixture
async def with_deadlines(server, emulator) -> AsyncIterator[Callable[..., Awaitable[Flow]]]:
    """Factory: `await with_deadlines(expire_after_seconds=3)` is a flow of an approve_reject
    assistant (made by erin, an admin) with those deadline settings, started by alice."""
    async with signed_in_clients(server.url) as clients:

        async def flow(**deadlines: Any) -> Flow:
            return await started_with_deadlines(clients, server, emulator, **deadlines)

        yield flow


async def started_with_deadlines(clients, server, emulator, **deadlines: Any) -> Flow:
    """A flow of an approve_reject assistant (made by erin, an admin) with `deadlines` in its
    context, started by alice on `server`."""
    assistant = await clients("erin").assistants.create("approve_reject", context=deadlines)
    started = Flow(clients, server, emulator, "approve_reject")
    started.graph = assistant["assistant_id"]
    await started.start(PAYMENT)
    return started


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 45) -> Any:
    """Poll `check` until it returns something truthy (the server sweeps in the background)."""
    async with asyncio.timeout(timeout):
        while not (found := await check()):
            await asyncio.sleep(0.3)
    return found


def events_of(receiver: WebhookReceiver, thread_id: str) -> list[tuple[dict[str, Any], Any]]:
    """(body, request) of every delivery about `thread_id` the receiver got, oldest first."""
    received = [(json.loads(r.body), r) for r in receiver.requests]
    return [(body, r) for body, r in received if body.get("thread_id") == thread_id]


def verifies(request: Any) -> bool:
    """The receiver's check: HMAC-SHA256 of the raw body under the shared secret."""
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, request.headers["X-Signoff-Signature"])


async def test_an_unanswered_request_expires_audited_and_announced(with_deadlines, receiver):
    run = await with_deadlines(expire_after_seconds=3)
    request = await run.request()
    assert request["expires_at"] > request["created_at"]
    result = await until(lambda: _finished(run))
    assert result["status"] == "expired" and result["reason"] == "expired"
    [entry] = result["audit"]
    assert (entry["decision"], entry["reviewer"]) == ("reject", "system")
    assert "expire_after 3 s" in entry["comment"] and entry["request_id"] == request["request_id"]
    assert run.executions() == []
    events = await until(lambda: _types_of(receiver, run.thread_id, "approval.expired"))
    assert {"approval.requested", "approval.expired"} <= events
    for body, delivery in events_of(receiver, run.thread_id):
        assert verifies(delivery) and body["request_id"] == request["request_id"]
        assert body["expires_at"] == request["expires_at"]
        assert body["link"].endswith(f"/inbox/{run.thread_id}?request_id={request['request_id']}")


async def test_a_request_answered_in_time_executes_and_never_expires(with_deadlines, receiver):
    run = await with_deadlines(expire_after_seconds=3)
    result = await run.resume("approve")
    assert result["status"] == "executed"
    await asyncio.sleep(5)  # past its expiry: several sweeps find nothing to expire
    values = await run.values()
    assert values["status"] == "executed" and len(values["audit"]) == 1
    assert len(run.executions()) == 1
    decided = await until(lambda: _types_of(receiver, run.thread_id, "approval.decided"))
    assert "approval.expired" not in decided
    [body] = [b for b, _ in events_of(receiver, run.thread_id) if b["type"] == "approval.decided"]
    assert (body["decided_by"], body["decision"]) == ("bob@signoff.local", "approve")


async def test_escalation_lets_the_escalation_group_decide(with_deadlines, receiver):
    run = await with_deadlines(escalate_after_seconds=2, escalate_to="security")
    with pytest.raises(REFUSED) as refused:
        await run.resume("approve", as_user="carol")  # security, not managers
    assert refused.value.response.status_code == 403
    assert "also of security" in refused.value.response.text
    await until(lambda: _types_of(receiver, run.thread_id, "approval.escalated"))
    result = await run.resume("approve", as_user="carol")
    assert result["status"] == "executed" and result["reviewers"] == ["carol@signoff.local"]
    assert result["audit"][0]["escalated_to"] == "security"
    escalated = [
        b for b, _ in events_of(receiver, run.thread_id) if b["type"] == "approval.escalated"
    ]
    assert "security" in escalated[0]["deciders"]


async def test_several_sweepers_at_once_expire_a_request_once(with_deadlines, server):
    run = await with_deadlines(expire_after_seconds=2)
    await asyncio.sleep(2.5)
    async with signed_in_clients(server.url) as clients:  # two more sweepers, as users
        await asyncio.gather(sweep(clients("alice")), sweep(clients("dave")), sweep(clients("bob")))
    result = await until(lambda: _finished(run))
    assert result["status"] == "expired"
    assert [e["decision"] for e in result["audit"]] == ["reject"]


async def test_an_expiry_before_its_time_is_refused_with_when(with_deadlines):
    run = await with_deadlines(expire_after_seconds=600)
    request = await run.request()
    expiry = {"type": "expire", "request_id": request["request_id"]}
    with pytest.raises(REFUSED) as refused:
        await run.resume(expiry, as_user="alice")
    assert refused.value.response.status_code == 403
    assert f"cannot be expired before {request['expires_at']}" in refused.value.response.text
    assert (await run.request())["request_id"] == request["request_id"]


async def test_a_failing_receiver_loses_nothing_holds_no_run_and_gets_the_same_event(
    with_deadlines, receiver
):
    receiver.fail_next(10_000)  # down, as far as signoff can tell
    runs = [await with_deadlines(expire_after_seconds=600) for _ in range(3)]
    for run in runs:
        assert (await run.resume("approve"))["status"] == "executed"
    retried = await until(lambda: _requested(receiver, runs[0].thread_id, at_least=2))
    assert not [d for d in receiver.requests if d.status < 300 and _about(d, runs)]
    receiver.recover()
    for run in runs:  # each event retries on its own backoff: wait for every one
        for event in ("approval.requested", "approval.decided"):
            await until(lambda run=run, e=event: _types_of(receiver, run.thread_id, e), 90)
    deliveries = await _requested(receiver, runs[0].thread_id, at_least=3)
    assert len(retried) >= 2 and [d.status for d in deliveries][-1] < 300
    assert len({d.headers["X-Signoff-Event-Id"] for d in deliveries}) == 1
    assert {d.body for d in deliveries} == {deliveries[0].body}
    assert all(verifies(d) for d in deliveries)


async def test_a_restart_during_the_wait_still_enforces_the_deadline(tmp_path, emulator, receiver):
    server = await asyncio.to_thread(deadline_server(tmp_path, emulator, receiver).start)
    try:
        async with signed_in_clients(server.url) as clients:
            run = await started_with_deadlines(clients, server, emulator, expire_after_seconds=3)
        await asyncio.to_thread(server.stop)
        await asyncio.sleep(4)  # the deadline passes while no server runs
        await asyncio.to_thread(server.start)
        async with signed_in_clients(server.url) as clients:
            run.clients, run.client = clients, clients("alice")
            result = await until(lambda: _finished(run))
        assert result["status"] == "expired" and run.executions() == []
    finally:
        server.stop()


async def test_a_request_changed_by_a_state_edit_is_shown_again_and_announced(
    server, emulator, receiver
):
    """After an admin's update_state the thread waits on no request until something runs it:
    the sweeper runs it, so the changed request is raised again, in every inbox."""
    async with signed_in_clients(server.url) as clients:
        run = Flow(clients, server, emulator, "edit_state")
        await run.start({"brief": {"to": ["ops@example.com"], "topic": "the outage"}})
        before = await run.request()
        changed = {**before["action_requests"][0]["args"], "subject": "Resolved"}
        await clients("erin").threads.update_state(run.thread_id, {"draft": changed})

        async def shown_again() -> dict[str, Any] | None:
            pending = await run.pending()
            return pending[0]["value"] if pending else None

        again = await until(shown_again)
        assert again["request_id"] != before["request_id"]
        assert again["action_requests"][0]["args"] == changed
        announced = await until(lambda: _requested(receiver, run.thread_id, at_least=2))
        assert {json.loads(d.body)["request_id"] for d in announced} == {
            before["request_id"],
            again["request_id"],
        }
        approval = {"decisions": [{"type": "approve"}], "request_id": again["request_id"]}
        result = await run.resume(approval)
        assert result["status"] == "sent" and result["final"] == changed


async def test_the_sweeper_never_runs_a_thread_an_edit_moved_past_its_review(server, emulator):
    async with signed_in_clients(server.url) as clients:
        run = Flow(clients, server, emulator, "approve_reject")
        await run.start(PAYMENT)
        await clients("erin").threads.update_state(run.thread_id, {}, as_node="auto_approve")
        await asyncio.sleep(3)  # three sweeps
        state = await run.client.threads.get_state(run.thread_id)
        assert state["next"] == ["execute"] and run.executions() == []


async def _finished(run: Flow) -> dict[str, Any] | None:
    values = await run.values()
    return values if values.get("status") else None


async def _types_of(receiver: WebhookReceiver, thread_id: str, wanted: str) -> set[str] | None:
    delivered = {b["type"] for b, r in events_of(receiver, thread_id) if r.status < 300}
    return delivered if wanted in delivered else None


async def _requested(receiver: WebhookReceiver, thread_id: str, at_least: int) -> list[Any]:
    found = [r for b, r in events_of(receiver, thread_id) if b["type"] == "approval.requested"]
    return found if len(found) >= at_least else []


def _about(delivery: Any, runs: list[Flow]) -> bool:
    return json.loads(delivery.body).get("thread_id") in {run.thread_id for run in runs}


async def test_signoff_sweep_expires_for_a_server_that_does_not_sweep(tmp_path, emulator, receiver):
    """`signoff sweep` is the same pass as one command (e.g. a scheduled job)."""
    # one sweep at start-up, then none during this test
    quiet = deadline_server(tmp_path, emulator, receiver, sweep_seconds=3600)
    await asyncio.to_thread(quiet.start)
    try:
        async with signed_in_clients(quiet.url) as clients:
            run = await started_with_deadlines(clients, quiet, emulator, expire_after_seconds=2)
            await asyncio.sleep(2.5)
            assert await run.status() == "interrupted"  # nothing in the server expires it
            swept = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "signoff.client.cli", "sweep", "--url", quiet.url],
                env={**os.environ, "SIGNOFF_TOKEN": TOKENS["dave"]},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert swept.returncode == 0, swept.stderr
            assert swept.stdout.startswith("expired 1,")
            values = await until(lambda: _finished(run))
            assert values["status"] == "expired" and run.executions() == []
    finally:
        quiet.stop()


async def test_the_metrics_scrape_with_pending_decisions_latency_and_expiries(
    with_deadlines, server
):
    waiting = await with_deadlines(expire_after_seconds=600)
    decided = await with_deadlines(expire_after_seconds=600)
    await decided.resume("approve")
    expiring = await with_deadlines(expire_after_seconds=1)
    await until(lambda: _finished(expiring))
    scraper = {"Authorization": f"Bearer {TOKENS['dave']}"}
    response = await asyncio.to_thread(
        httpx.get, f"{server.url}/signoff/metrics", headers=scraper, timeout=30
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    pending = (("graph", "approve_reject"), ("stage", "review"))
    assert samples[("signoff_pending_approvals", pending)] >= 1
    assert samples[("signoff_oldest_pending_age_seconds", ())] > 0
    approved = (("decision", "approve"), ("graph", "approve_reject"))
    assert samples[("signoff_decisions_total", approved)] >= 1
    assert samples[("signoff_decision_latency_seconds_count", (("graph", "approve_reject"),))] >= 1
    assert samples[("signoff_expired_total", (("graph", "approve_reject"),))] >= 1
    assert (await waiting.request())["request_id"]
