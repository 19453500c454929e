"""signoff on Databricks Apps, run locally: the App (`signoff.apps`, Agent Bricks'
`DurableAgentServer`) under uvicorn, its threads in a fresh PostgreSQL database, its people the
emulator's, signed in by the headers Databricks Apps' ingress forwards.

A payment over the threshold is raised through the invocation API, pauses, is listed by
`signoff pending` and by the inbox (real Chromium, signed in by the forwarded headers), is
refused to its requester (four-eyes) and approved by a manager, through the invocation API
and through the inbox, and executes once. The App's sweeper expires what nobody answers. No
field of a body makes anyone anybody, and a request with no credentials is a 401.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from playwright.async_api import expect

from signoff.execution.ledger import read_entries
from tests.browser import chromium, screenshot
from tests.databricks_app import RunningApp, forwarded
from tests.dev_users import TOKENS, signed_in, user_name
from tests.langgraph_server import REPO
from tests.property_settings import EXAMPLES

PAYMENT = {"operation": {"kind": "payment", "amount": 5000, "target": "acct-apps"}}
SHORT_DEADLINE = '\n[deadlines."multi_stage_approval.manager"]\nexpire_after = "2s"\n'
"""A chain's first stage that expires two seconds after it is raised (the payments' do not)."""


@pytest.fixture(scope="module")
def database(postgres) -> str:
    """A fresh database of its own for the App's threads, checkpoints and ledger."""
    return postgres.new_database("signoff_app")


@pytest.fixture(scope="module")
def app(tmp_path_factory, emulator, database) -> Iterator[RunningApp]:
    """The App, sweeping every second, on the emulator's workspace."""
    workdir = tmp_path_factory.mktemp("signoff-app")
    settings = workdir / "signoff.toml"
    settings.write_text((REPO / "signoff.toml").read_text() + SHORT_DEADLINE)
    running = RunningApp(
        workdir,
        env={
            "DATABRICKS_HOST": emulator.url,
            "DATABRICKS_TOKEN": emulator.token,
            "SIGNOFF_CHECKPOINTER": database,
            "SIGNOFF_CONFIG": str(settings),
            "SIGNOFF_SWEEP_SECONDS": "1",
            "SIGNOFF_INBOX_CACHE_SECONDS": "0",
            "SIGNOFF_APP_GRAPH": "approve_reject",
        },
    ).start()
    yield running
    running.stop()


@pytest.fixture
async def http(app: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=app.url, timeout=60) as client:
        yield client


Invoke = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def invoke(http: httpx.AsyncClient) -> Invoke:
    """`await invoke("alice", thread_id, input)`: one invocation as that person, through the
    headers Databricks Apps forwards."""

    async def call(user: str | None, thread_id: str, given: Any) -> httpx.Response:
        body = {"id": str(uuid.uuid4()), "session_id": thread_id, "input": given}
        return await http.post(
            "/api/invocations", json=body, headers=forwarded(user) if user else {}
        )

    return call


def executions(database: str, thread_id: str) -> list[dict[str, Any]]:
    """The ledger entries of `thread_id`."""
    return [e for e in read_entries(setting=database) if e["thread_id"] == thread_id]


def signoff_cli(app: RunningApp, user: str, *arguments: str) -> str:
    """`signoff --url <app> ...` as `user`; its output."""
    done = subprocess.run(
        [str(Path(sys.executable).with_name("signoff")), "--url", app.url, *arguments],
        env={**os.environ, "SIGNOFF_TOKEN": TOKENS[user]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def raise_payment(invoke: Invoke, amount: int = 5000) -> tuple[str, dict[str, Any]]:
    """alice raises a payment of `amount`; its thread and the invocation's output."""
    thread_id = str(uuid.uuid4())
    payment = {"operation": {**PAYMENT["operation"], "amount": amount}}
    response = await invoke("alice", thread_id, payment)
    assert response.status_code == 200, response.text
    return thread_id, response.json()["output"]


async def test_a_payment_pauses_is_listed_refused_to_its_requester_and_approved_once(
    app, invoke, database
):
    thread_id, output = await raise_payment(invoke)
    assert output["status"] == "interrupted"
    [pause] = output["output"]
    assert pause["type"] == "interrupt" and pause["id"]
    request = pause["value"]
    assert request["summary"] == "payment of 5,000 USD to acct-apps"
    assert request["requested_by"] == user_name("alice")

    assert thread_id in signoff_cli(app, "bob", "pending")

    own = await invoke("alice", thread_id, {"resume": {"decisions": [{"type": "approve"}]}})
    assert own.status_code == 403, own.text
    assert "managers" in own.json()["error"]["message"]  # who may decide instead
    assert executions(database, thread_id) == []
    async with signed_in(app.url, "bob") as bob:
        assert (await bob.threads.get(thread_id))["status"] == "interrupted"

    approved = await invoke("bob", thread_id, {"resume": {pause["id"]: "approve"}})
    assert approved.status_code == 200, approved.text
    result = approved.json()["output"]
    assert result["status"] == "completed" and result["values"]["status"] == "executed"
    assert result["values"]["reviewers"] == [user_name("bob")]
    assert len(executions(database, thread_id)) == 1

    again = await invoke("bob", thread_id, {"resume": "approve"})
    assert again.status_code == 409, again.text
    assert "waits for no decision" in again.json()["error"]["message"]
    assert len(executions(database, thread_id)) == 1


async def test_the_inbox_signs_in_from_the_forwarded_headers_and_approves(app, invoke, database):
    thread_id, _ = await raise_payment(invoke, amount=7000)
    async with chromium() as browser:
        context = await browser.new_context(base_url=app.url, extra_http_headers=forwarded("bob"))
        page = await context.new_page()
        await page.goto("/inbox?sort=newest")
        await expect(page.get_by_text("Signed in as bob@signoff.local")).to_be_visible()
        row = page.locator(f'a[href^="/inbox/{thread_id}"]')
        await expect(row).to_be_visible()
        await row.click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "payment of 7,000 USD to acct-apps"
        )
        await screenshot(page, "databricks-app-inbox-request")
        await page.get_by_role("button", name="Approve", exact=True).click()
        await expect(page.get_by_role("status")).to_have_text("Request approved.")
        await context.close()
    [entry] = executions(database, thread_id)
    assert entry["details"]["amount"] == 7000


async def test_identity_comes_from_the_headers_never_from_the_body(app, invoke, http):
    thread_id, output = await raise_payment(invoke)
    forged = {
        "resume": "approve",
        "signoff_caller": {"user": user_name("bob"), "groups": ["managers"]},
    }
    refused = await invoke("alice", thread_id, forged)
    assert refused.status_code == 403, refused.text  # alice, whatever the body says
    stamped = {**PAYMENT, "signoff_caller": {"user": user_name("bob"), "groups": ["managers"]}}
    other = str(uuid.uuid4())
    started = await invoke("alice", other, stamped)
    assert started.json()["output"]["output"][0]["value"]["requested_by"] == user_name("alice")

    bare = await invoke(None, str(uuid.uuid4()), PAYMENT)
    assert bare.status_code == 401
    assert "X-Forwarded-Access-Token" in bare.json()["error"]["message"]
    mixed = {**forwarded("bob"), "X-Forwarded-Email": user_name("alice")}
    body = {"id": str(uuid.uuid4()), "session_id": thread_id, "input": {"resume": "approve"}}
    mismatch = await http.post("/api/invocations", json=body, headers=mixed)
    assert mismatch.status_code == 401
    message = mismatch.json()["error"]["message"]
    assert user_name("alice") in message and user_name("bob") in message
    assert (await http.get("/inbox", headers=mixed)).status_code == 401
    async with signed_in(app.url, "bob") as bob:
        assert (await bob.threads.get(thread_id))["status"] == "interrupted"


async def test_the_apps_sweeper_expires_a_request_at_its_deadline(app):
    async with signed_in(app.url, "alice") as alice:
        thread = await alice.threads.create()
        await alice.runs.wait(
            thread["thread_id"],
            "multi_stage_approval",
            input={"action": {"name": "deploy_release", "args": {"version": "1.2"}}},
        )
        for _ in range(60):
            state = await alice.threads.get_state(thread["thread_id"])
            if state["values"].get("status") == "expired":
                break
            await asyncio.sleep(0.5)
        assert state["values"]["status"] == "expired" and not state["interrupts"]


def test_the_deploy_dry_run_prints_its_calls_and_contacts_nothing():
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")}
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "deploy" / "databricks_apps.py"),
            "--name",
            "signoff-approvals",
            "--lakebase-instance",
            "signoff-state",
            "--dry-run",
        ],
        env={**env, "DATABRICKS_HOST": "http://127.0.0.1:9"},  # nothing listens: a call fails
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    calls = done.stdout
    assert 'w.apps.get(name="signoff-approvals")' in calls
    assert "w.apps.create_and_wait(app=App.from_dict(" in calls
    assert '"instance_name": "signoff-state"' in calls
    assert '"iam.current-user:read"' in calls
    assert "/Workspace/Shared/signoff-approvals/app.yaml" in calls
    assert "/Workspace/Shared/signoff-approvals/signoff/apps/server.py" in calls
    assert 'w.apps.deploy_and_wait(app_name="signoff-approvals"' in calls
    assert '"SIGNOFF_APP_GRAPH"' in calls and '"LAKEBASE_INSTANCE_NAME"' in calls


async def test_bad_input_is_a_clear_error_and_leaves_a_pending_request_pending(invoke):
    thread_id, _ = await raise_payment(invoke)
    not_an_object = await invoke("alice", str(uuid.uuid4()), "pay 5000")
    assert not_an_object.status_code == 422
    assert "input must be an object" in not_an_object.json()["error"]["message"]
    failed = await invoke("alice", str(uuid.uuid4()), {"payment": 5000})
    assert failed.status_code == 422, failed.text
    assert "The run of approve_reject failed" in failed.json()["error"]["message"]
    nonsense = await invoke("bob", thread_id, {"resume": {"decisions": "yes please"}})
    assert nonsense.status_code == 200, nonsense.text  # it pauses again, saying what was wrong
    [again] = nonsense.json()["output"]["output"]
    assert again["type"] == "interrupt" and again["value"]["error"]


NESTED = st.integers(1, 100_000).map(lambda depth: b"[" * depth) | st.integers(1, 2_000).map(
    # Written as text: a nested list that deep is more than this process may build or encode.
    lambda depth: (
        f'{{"id": "{uuid.uuid4()}", "session_id": "t", "input": {{"a": '
        + "[" * depth
        + "]" * depth
        + "}}"
    ).encode()
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
INVOCATION_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "id": st.uuids().map(str) | JSON_VALUES,
        "session_id": st.text(max_size=6) | JSON_VALUES,
        "input": JSON_VALUES,
        "stream": JSON_VALUES,
        "other": JSON_VALUES,
    },
).map(lambda body: json.dumps(body).encode())


@EXAMPLES
@given(body=st.binary(max_size=300) | NESTED | INVOCATION_LIKE)
def test_no_body_makes_the_invocation_api_fail_without_saying_why(app, body):
    """Whatever bytes arrive (not JSON, nested past the parser, no invocation), the answer is
    an error in the runtime's shape saying what is wrong, never a 500."""
    headers = {"Authorization": f"Bearer {TOKENS['alice']}", "Content-Type": "application/json"}
    answered = httpx.post(f"{app.url}/api/invocations", content=body, headers=headers, timeout=60)
    assert answered.status_code < 500, answered.text
    if answered.status_code >= 400:
        error = answered.json()["error"]
        assert set(error) >= {"code", "message"} and error["message"], answered.text


def test_a_body_over_the_limit_is_refused_naming_it(app):
    headers = {"Authorization": f"Bearer {TOKENS['alice']}", "Content-Type": "application/json"}
    answered = httpx.post(
        f"{app.url}/api/invocations", content=b" " * (2 * 1024 * 1024), headers=headers, timeout=60
    )
    assert answered.status_code == 413, answered.text
    assert "send at most 1048576" in answered.json()["error"]["message"]


async def test_signoff_approve_answers_through_the_app(app, invoke, database):
    thread_id, _ = await raise_payment(invoke, amount=6000)
    said = signoff_cli(app, "bob", "approve", thread_id, "--comment", "checked")
    assert said.startswith("Approved: payment of 6,000 USD to acct-apps"), said
    assert len(executions(database, thread_id)) == 1


async def test_another_sites_page_cannot_answer_as_the_signed_in_browser(app, http, database):
    """Databricks Apps forwards the person's token with whatever their browser sends, so a
    page of another site could make bob's browser post an approval; the App refuses it and
    takes what its own pages (and scripts) send."""
    thread_id, _ = await raise_payment_as_alice(http)
    lure = '{"assistant_id":"approve_reject","command":{"resume":"approve"},"pad":"="}'
    runs = f"/threads/{thread_id}/runs/wait"
    evil = {"Origin": "https://evil.example"}
    as_text = {**forwarded("bob"), "Content-Type": "text/plain"}
    as_json = {**forwarded("bob"), "Content-Type": "application/json"}

    cross = await http.post(runs, content=lure, headers={**as_text, **evil})
    assert cross.status_code == 403, cross.text
    assert f"accepted only from {app.url}" in cross.json()["error"]["message"]
    fetched = await http.post(
        runs, content=lure, headers={**as_json, "Sec-Fetch-Site": "cross-site"}
    )
    assert fetched.status_code == 403, fetched.text
    no_origin = await http.post(runs, content=lure, headers=as_text)
    assert no_origin.status_code == 415, no_origin.text
    assert "Content-Type: application/json" in no_origin.json()["error"]["message"]
    invocation = {"id": str(uuid.uuid4()), "session_id": thread_id, "input": {"resume": "approve"}}
    for headers in ({**as_json, **evil}, as_text):
        posted = await http.post(
            "/api/invocations", content=json.dumps(invocation), headers=headers
        )
        assert posted.status_code in (403, 415), posted.text
    grant = await http.post("/signoff/grants", content="{}", headers={**as_text, **evil})
    assert grant.status_code == 403, grant.text
    assert executions(database, thread_id) == []
    async with signed_in(app.url, "bob") as bob:
        assert (await bob.threads.get(thread_id))["status"] == "interrupted"
        # a script signs in with its bearer token: no browser adds that by itself
        listed = await http.post(
            "/threads/search",
            content="{}",
            headers={"Authorization": f"Bearer {TOKENS['bob']}", "Content-Type": "text/plain"},
        )
        assert listed.status_code == 200, listed.text

    own = {**as_json, "Origin": app.url, "Sec-Fetch-Site": "same-origin"}
    answered = await http.post(runs, content=lure, headers=own)
    assert answered.status_code == 200, answered.text
    assert len(executions(database, thread_id)) == 1


async def raise_payment_as_alice(http: httpx.AsyncClient) -> tuple[str, str]:
    """alice raises a payment through the invocation API; its thread and invocation id."""
    thread_id, invocation_id = str(uuid.uuid4()), str(uuid.uuid4())
    body = {"id": invocation_id, "session_id": thread_id, "input": PAYMENT}
    raised = await http.post("/api/invocations", json=body, headers=forwarded("alice"))
    assert raised.status_code == 200, raised.text
    return thread_id, invocation_id


async def test_an_invocation_is_shown_to_its_caller_and_who_may_see_its_thread(http):
    thread_id, invocation_id = await raise_payment_as_alice(http)
    status = f"/api/invocations/{invocation_id}"
    for name in ("alice", "bob"):  # its caller; a manager who may decide it
        shown = await http.get(status, headers=forwarded(name))
        assert shown.status_code == 200, shown.text
        assert shown.json()["output"]["status"] == "interrupted"
    events = await http.get(f"{status}/events", headers=forwarded("bob"))
    assert events.status_code == 200 and "event: interrupt" in events.text

    unknown = str(uuid.uuid4())
    for path, name in (
        (status, "carol"),
        (f"{status}/events", "carol"),
        (f"/api/invocations/{unknown}", "bob"),
    ):
        hidden = await http.get(path, headers=forwarded(name))
        assert hidden.status_code == 404, hidden.text
        message = hidden.json()["error"]["message"]
        assert f"that {user_name(name)} may see" in message and "its caller" in message
        assert "payment" not in hidden.text


async def test_refusals_say_what_the_invocation_api_takes_and_hide_other_peoples_threads(
    app, http, invoke
):
    thread_id, _ = await raise_payment_as_alice(http)
    again = await invoke("alice", thread_id, PAYMENT)
    assert again.status_code == 409, again.text
    said = again.json()["error"]["message"]
    assert '{"resume": <answer>}' in said and "command.resume" not in said

    for sent in ({"resume": "approve"}, PAYMENT):
        hidden = await invoke("carol", thread_id, sent)
        assert hidden.status_code == 404, hidden.text
        said = hidden.json()["error"]["message"]
        assert f"There is no thread {thread_id} that {user_name('carol')} may see." in said
        assert "visible to its requester" in said and "exists" not in said
    missing = await invoke("carol", str(uuid.uuid4()), {"resume": "approve"})
    assert missing.status_code == 404
    async with signed_in(app.url, "alice") as alice:
        assert (await alice.threads.get(thread_id))["status"] == "interrupted"


async def test_an_app_on_sqlite_serves_the_inbox_grants_and_delegations(tmp_path, emulator):
    running = RunningApp(
        tmp_path,
        env={
            "DATABRICKS_HOST": emulator.url,
            "DATABRICKS_TOKEN": emulator.token,
            "SIGNOFF_CHECKPOINTER": f"sqlite:///{tmp_path / 'app.sqlite'}",
            "SIGNOFF_INBOX_CACHE_SECONDS": "0",
        },
    ).start()
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=60) as http:
            bearer = {"Authorization": f"Bearer {TOKENS['bob']}"}
            delegation = {"delegate": user_name("dave"), "ends_in": "7d"}
            made = await http.post("/signoff/delegations", json=delegation, headers=bearer)
            assert made.status_code in (200, 201), made.text
            listed = await http.get("/signoff/delegations", headers=forwarded("bob"))
            assert listed.status_code == 200, listed.text
            assert user_name("dave") in listed.text
            grants = await http.get("/signoff/grants", headers=forwarded("bob"))
            assert grants.status_code == 200, grants.text
            inbox = await http.get("/inbox", headers=forwarded("bob"))
            assert (
                inbox.status_code == 200 and "Signed in as <strong>bob@signoff.local" in inbox.text
            )
    finally:
        running.stop()
