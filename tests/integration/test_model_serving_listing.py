"""A Model Serving deployment's requests, listed, answered and expired by the signoff App.

The deployment is `SignoffAgent` (MLflow's `ResponsesAgent`, called as Model Serving calls it:
the caller's on-behalf-of-user token from the emulator) with its checkpoints in a fresh
PostgreSQL database; the signoff App (`signoff.apps`, under uvicorn) runs on the same database,
as the docs say to deploy it beside an endpoint. A payment alice raises through the endpoint is
listed by the real `signoff --url <app> pending` and the App's inbox (real Chromium, signed in
by the headers Databricks Apps forwards) for bob and not for frank, is approved once in the
inbox (the endpoint then shows it finished, and a second approval is refused), and one with a
short deadline is expired by the App's sweeper with nobody calling.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient
from mlflow.types.responses import ResponsesAgentRequest, ResponsesAgentResponse
from playwright.async_api import expect
from prometheus_client.parser import text_string_to_metric_families

from emulator.server import RunningEmulator
from signoff.client.pending_requests import every_pending_request
from signoff.databricks.workspace import workspace_client
from signoff.execution.ledger import read_entries
from signoff.graphs import GRAPHS
from signoff.serving import SignoffAgent
from signoff.settings import DEFAULT_FILE, load_settings
from tests.browser import chromium, screenshot
from tests.databricks_app import RunningApp, forwarded
from tests.dev_users import TOKENS, signed_in
from tests.model_serving_caller import calling_as, serving_environment, text_of
from tests.postgres import PostgresCluster

SHORT_DEADLINE = ('expire_after = "3d"', 'expire_after = "6s"')
"""The payments' expiry (the first in `signoff.toml`), and the short one of the last test."""


@pytest.fixture(scope="module")
def database(postgres: PostgresCluster) -> str:
    """A fresh database of this module's own: the endpoint's checkpoints, store and ledger."""
    return postgres.new_database("serving_listing")


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory, emulator: RunningEmulator, database: str
) -> Iterator[RunningApp]:
    """The signoff App on `database`, with the checked-in settings, sweeping every second."""
    running = RunningApp(
        tmp_path_factory.mktemp("serving_listing_app"),
        env={
            "DATABRICKS_HOST": emulator.url,
            "DATABRICKS_TOKEN": emulator.token,
            "SIGNOFF_CHECKPOINTER": database,
            "SIGNOFF_CONFIG": str(DEFAULT_FILE),
            "SIGNOFF_SWEEP_SECONDS": "1",
            "SIGNOFF_INBOX_CACHE_SECONDS": "0",
        },
    ).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def endpoint(
    emulator: RunningEmulator,
    database: str,
    app: RunningApp,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SignoffAgent]:
    """The Model Serving endpoint of `approve_reject`, in process, opened on `database` once
    the App has made its tables there: the emulator's workspace resolves its callers."""
    scratch = tmp_path_factory.mktemp("serving_listing")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DATABRICKS_CONFIG_PROFILE", raising=False)
        patch.delenv("SIGNOFF_CONFIG", raising=False)
        patch.setenv("DATABRICKS_HOST", emulator.url)
        patch.setenv("DATABRICKS_TOKEN", emulator.token)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{scratch / 'mlflow.db'}")
        patch.setenv("SIGNOFF_CHECKPOINTER", database)
        workspace_client.cache_clear()
        load_settings.cache_clear()
        with (
            serving_environment(emulator.url),
            SignoffAgent(GRAPHS["approve_reject"], database) as agent,
        ):
            yield agent
    workspace_client.cache_clear()
    load_settings.cache_clear()


@pytest.fixture
def short_deadline(tmp_path: Path) -> Iterator[None]:
    """Requests the endpoint raises meanwhile expire 6 s after they are raised."""
    settings = tmp_path / "signoff.toml"
    settings.write_text(DEFAULT_FILE.read_text(encoding="utf-8").replace(*SHORT_DEADLINE, 1))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SIGNOFF_CONFIG", str(settings))
        load_settings.cache_clear()
        yield
    load_settings.cache_clear()


def ask(endpoint: SignoffAgent, user: str, **custom_inputs: Any) -> ResponsesAgentResponse:
    """One request to the endpoint as `user`, with no messages: its response."""
    calling_as(user)
    return endpoint.predict(ResponsesAgentRequest(input=[], custom_inputs=custom_inputs))


def raise_payment(endpoint: SignoffAgent, amount: int) -> str:
    """alice asks the endpoint for a payment of `amount`: its thread, which waits for approval."""
    operation = {"kind": "payment", "amount": amount, "target": "acct-serving"}
    outputs = ask(endpoint, "alice", input={"operation": operation}).custom_outputs or {}
    assert outputs["is_interrupted"] is True
    return str(outputs["thread_id"])


def done(thread_id: str) -> dict[str, Any]:
    """The endpoint's custom outputs for `thread_id` when it waits for nothing."""
    return {
        "thread_id": thread_id,
        "is_interrupted": False,
        "pending_actions": [],
        "pending_tool_calls": [],
    }


def executions(database: str, thread_id: str) -> list[Any]:
    """The ledger entries of `thread_id` (the `signoff_ledger` table of `database`)."""
    return [e for e in read_entries(setting=database) if e["thread_id"] == thread_id]


async def signoff(app: RunningApp, user: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The real `signoff --url <app> ...` as development user `user`."""
    return await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).with_name("signoff")), "--url", app.url, *arguments],
        env={**os.environ, "SIGNOFF_TOKEN": TOKENS[user]},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def pending_gauge(app: RunningApp) -> float:
    """`signoff_pending_approvals` of `approve_reject` in the App's Prometheus metrics, read
    as a scrape reads it (a user's token), once the App's list has caught up."""
    headers = {"Authorization": f"Bearer {TOKENS['bob']}"}
    for _ in range(40):
        async with httpx.AsyncClient(timeout=10) as http:
            scrape = await http.get(f"{app.url}/signoff/metrics", headers=headers)
        assert scrape.status_code == 200, scrape.text
        for family in text_string_to_metric_families(scrape.text):
            counted = [
                sample.value
                for sample in family.samples
                if sample.name == "signoff_pending_approvals"
                and sample.labels.get("graph") == "approve_reject"
            ]
            if counted and sum(counted) >= 1:
                return sum(counted)
        await asyncio.sleep(0.5)  # the list is cached for SIGNOFF_INBOX_CACHE_SECONDS
    return 0.0


async def pending_for(app: RunningApp, user: str) -> list[str]:
    """The threads `signoff pending` lists for `user`."""
    done = await signoff(app, user, "pending", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return [request["thread_id"] for request in json.loads(done.stdout)]


async def listed(client: LangGraphClient) -> list[str]:
    """The threads `pending_requests` lists through `client` (the reader `signoff pending`
    and the inbox use), in process: quicker than the command line."""
    return [request.thread_id for request in await every_pending_request(client)]


async def test_a_payment_raised_through_the_endpoint_is_listed_and_approved_once_in_the_app(
    endpoint: SignoffAgent, app: RunningApp, database: str
):
    thread_id = raise_payment(endpoint, 5000)

    assert thread_id in await pending_for(app, "bob")
    assert thread_id not in await pending_for(app, "frank")
    assert await pending_gauge(app) >= 1  # the App's metrics count the endpoint's request
    async with chromium() as browser:
        hidden = await browser.new_context(base_url=app.url, extra_http_headers=forwarded("frank"))
        page = await hidden.new_page()
        await page.goto("/inbox?sort=newest")
        await expect(page.get_by_text("Signed in as frank@signoff.local")).to_be_visible()
        await expect(page.locator(f'a[href^="/inbox/{thread_id}"]')).to_have_count(0)
        shown = await page.goto(f"/inbox/{thread_id}")
        assert shown is not None and shown.status == 404

        context = await browser.new_context(base_url=app.url, extra_http_headers=forwarded("bob"))
        page = await context.new_page()
        await page.goto("/inbox?sort=newest")
        await expect(page.get_by_text("Signed in as bob@signoff.local")).to_be_visible()
        await page.locator(f'a[href^="/inbox/{thread_id}"]').click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "payment of 5,000 USD to acct-serving"
        )
        await screenshot(page, "model-serving-request-in-the-app-inbox")
        await page.get_by_role("button", name="Approve", exact=True).click()
        await expect(page.get_by_role("status")).to_have_text("Request approved.")

    [entry] = executions(database, thread_id)
    assert (entry["details"]["amount"], entry["details"]["target"]) == (5000, "acct-serving")
    finished = ask(endpoint, "alice", thread_id=thread_id)  # the endpoint's own reply
    assert finished.custom_outputs == done(thread_id)
    assert text_of(finished).startswith("Finished: executed.") and entry["id"] in text_of(finished)
    assert thread_id not in await pending_for(app, "bob")

    again = await signoff(app, "bob", "approve", thread_id)
    assert again.returncode == 1 and "waits for no decision" in again.stdout
    with pytest.raises(ValueError, match="is not waiting for a decision"):
        ask(endpoint, "bob", thread_id=thread_id, decision="approve")
    assert len(executions(database, thread_id)) == 1


async def test_the_apps_sweeper_expires_an_endpoint_request_at_its_deadline(
    endpoint: SignoffAgent, app: RunningApp, database: str, short_deadline: None
):
    thread_id = raise_payment(endpoint, 6000)

    async with signed_in(app.url, "bob") as bob:
        assert thread_id in await listed(bob)  # read at once, well before its deadline
        for _ in range(120):  # nobody calls: the App's sweeper expires it
            if thread_id not in await listed(bob):
                break
            await asyncio.sleep(0.5)
        else:
            pytest.fail(f"thread {thread_id} was not expired within a minute")
    assert thread_id not in await pending_for(app, "bob")

    audit = await signoff(app, "alice", "audit", thread_id, "--json", "--verify")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    trail = json.loads(audit.stdout)
    assert [(e["decision"], e["reviewer"]) for e in trail["audit"]] == [("reject", "system")]
    assert trail["verified"] is True
    assert executions(database, thread_id) == []
    expired = ask(endpoint, "alice", thread_id=thread_id)
    assert expired.custom_outputs == done(thread_id)
    assert text_of(expired).startswith("Finished: expired.")
