"""The real Agent Inbox (langchain-ai/agent-inbox, a Next.js app) in headless Chromium, and
what it sends to a signoff server.

signoff commits no copy of Agent Inbox and no recipe that builds it: `make interop` runs
against a build the tester made from its repository, as its README says, named by
`SIGNOFF_AGENT_INBOX_URL` (an Agent Inbox already serving) or `SIGNOFF_AGENT_INBOX_DIR` (a
built checkout, served here with `next start`).

`AgentInboxSession` drives it as a person does: add an inbox (graph id and deployment URL),
put a token in Settings' "LangSmith API Key" field, open a request, accept or respond.
`Recording` keeps every request the page sends to the signoff server, headers and body, as
`tests/fixtures/agent_inbox_requests.json` holds them for the replay `make test` runs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, Request
from playwright.async_api import Error as PlaywrightError

from tests.langgraph_server import free_port

RECORDING = Path(__file__).parent / "fixtures" / "agent_inbox_requests.json"
"""Agent Inbox's requests as recorded from its build by `make interop`."""

KEPT_HEADERS = ("accept", "authorization", "content-type", "x-api-key")
"""The headers a recording keeps: those that change what the server does (the browser's own,
such as `user-agent` and `origin`, do not)."""


@contextmanager
def agent_inbox_url() -> Iterator[str]:
    """The address of an Agent Inbox to test: `SIGNOFF_AGENT_INBOX_URL`, or a build in
    `SIGNOFF_AGENT_INBOX_DIR` served with `next start` until the block ends."""
    if url := os.environ.get("SIGNOFF_AGENT_INBOX_URL"):
        yield url.rstrip("/")
        return
    build = os.environ.get("SIGNOFF_AGENT_INBOX_DIR")
    if not build or not (Path(build) / ".next").is_dir():
        raise RuntimeError(
            "make interop needs Agent Inbox built from langchain-ai/agent-inbox as its README "
            "says: set SIGNOFF_AGENT_INBOX_DIR to the built checkout (it has .next/), or "
            "SIGNOFF_AGENT_INBOX_URL to one already serving."
        )
    port = free_port()
    server = subprocess.Popen(
        ["npx", "next", "start", "-p", str(port), "-H", "127.0.0.1"],
        cwd=build,
        env={**os.environ, "NEXT_TELEMETRY_DISABLED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url)
        yield url
    finally:
        with suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _wait_for(url: str, attempts: int = 120) -> None:
    for _ in range(attempts):
        with suppress(OSError), urllib.request.urlopen(url, timeout=2):
            return
        time.sleep(0.5)
    raise RuntimeError(f"Agent Inbox did not answer at {url}")


@dataclass
class Recording:
    """What one page sent to the signoff server at `server_url`, in order, with the status
    of each answer; repeated polls of the same list are kept once."""

    server_url: str
    requests: list[dict[str, Any]] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        """Record the requests `page` sends from now on."""
        page.on("requestfinished", self._finished)
        page.on("requestfailed", self._finished)

    async def _finished(self, request: Request) -> None:
        if not request.url.startswith(self.server_url) or request.method == "OPTIONS":
            return
        response = await request.response()
        if response is None:  # aborted by the page's own navigation: never answered
            return
        headers = await request.all_headers()
        entry = {
            "method": request.method,
            "path": request.url.removeprefix(self.server_url),
            "headers": {k: v for k, v in sorted(headers.items()) if k in KEPT_HEADERS},
            "body": json.loads(request.post_data) if request.post_data else None,
            "status": response.status,
        }
        if not self.requests or self.requests[-1] != entry:
            self.requests.append(entry)

    def with_placeholders(self, names: dict[str, str]) -> list[dict[str, Any]]:
        """The requests with each thread id of `names` (id → name) written `{name}`."""
        text = json.dumps(self.requests, indent=2)
        for thread_id, name in names.items():
            text = text.replace(thread_id, "{" + name + "}")
        return json.loads(text)


PAYMENTS = {
    "small": {"kind": "payment", "amount": 5000, "currency": "USD", "target": "acct-1"},
    "large": {"kind": "payment", "amount": 12500, "currency": "USD", "target": "acct-2"},
    "offshore": {
        "kind": "payment",
        "amount": 980000,
        "currency": "USD",
        "target": "acct-offshore-7",
    },
}
"""The payments the recording answers, by the names its thread ids are written as."""

SUMMARIES = (
    "payment of 5,000 USD to acct-1",
    "payment of 12,500 USD to acct-2",
    "payment of 980,000 USD to acct-offshore-7",
)


async def raise_payments(client: Any) -> dict[str, str]:
    """Raise `PAYMENTS` with `client` (alice's: bob may decide the first two, nobody may
    decide the third as alice); their thread ids by name."""
    threads = {}
    for name, operation in PAYMENTS.items():
        thread = await client.threads.create()
        await client.runs.wait(
            thread["thread_id"], "approve_reject", input={"operation": operation}
        )
        threads[name] = thread["thread_id"]
    return threads


class AgentInboxSession:
    """One person's Agent Inbox, on its own browser context (its own local storage)."""

    def __init__(self, page: Page, server_url: str) -> None:
        self.page, self.server_url = page, server_url

    @classmethod
    async def open(cls, browser: Browser, app_url: str, server_url: str) -> AgentInboxSession:
        """A fresh Agent Inbox at `app_url`, as a first-time user sees it."""
        context = await browser.new_context(
            base_url=app_url, viewport={"width": 1400, "height": 1000}
        )
        return cls(await context.new_page(), server_url)

    async def _goto(self, address: str) -> None:
        """Open `address`, again if the page's own navigation (it rewrites its address as it
        starts) aborted it."""
        for attempt in range(5):
            try:
                await self.page.goto(address)
                return
            except PlaywrightError as error:
                if "ERR_ABORTED" not in str(error) or attempt == 4:
                    raise
                await self.page.wait_for_timeout(500)

    async def _settle(self) -> None:
        await self.page.wait_for_load_state("load")
        await self.page.wait_for_timeout(1500)  # React takes over the page after the load

    async def add_inbox(self, graph_id: str, name: str) -> None:
        """Fill in the welcome dialog: the graph and the deployment URL, as a user does."""
        await self._goto("/")
        await self._settle()
        await self._fill("#graph-id", graph_id)
        await self._fill("#deployment-url", self.server_url)
        await self._fill("#name", name)
        await self.page.get_by_role("dialog").get_by_role("button", name="Add Inbox").click()
        await self.page.wait_for_function("localStorage.getItem('inbox:agent_inboxes') !== null")

    async def sign_in(self, token: str) -> None:
        """Put `token` in Settings' "LangSmith API Key" field (sent as `x-api-key`), again
        until the page has kept it (its start-up navigations may close the popover)."""
        await self._goto("/")
        await self._settle()
        for _ in range(10):
            with suppress(PlaywrightError):
                await self.page.get_by_text("Settings", exact=True).click(timeout=5000)
                await self.page.locator("#langchain-api-key").fill(token, timeout=5000)
            await self.page.keyboard.press("Escape")
            kept = await self.page.evaluate("localStorage.getItem('inbox:langchain_api_key')")
            if kept == token:
                return
            await self.page.wait_for_timeout(500)
        raise AssertionError("Agent Inbox did not keep the API key")

    async def _fill(self, selector: str, value: str) -> None:
        """Type `value` into a field, again until it stays (the page may re-render a field
        while it starts up, dropping what was typed)."""
        field = self.page.locator(selector)
        for _ in range(20):
            await field.fill(value)
            await self.page.wait_for_timeout(250)
            if await field.input_value() == value:
                return
        raise AssertionError(f"{selector} does not keep {value!r}")

    async def interrupted(self) -> list[str]:
        """The rows of the Interrupted list, as text (title, then description preview)."""
        await self._goto(await self._list_address())
        await self._settle()
        rows = self.page.locator("div.grid.grid-cols-12")
        await rows.or_(self.page.get_by_text("No threads found")).first.wait_for()
        return [" ".join((await row.inner_text()).split()) for row in await rows.all()]

    async def open_thread(self, thread_id: str) -> None:
        """Open one request, at the address a click on its row leads to (a click races the
        page's own rewrite of its address while the list loads)."""
        await self._goto(f"{await self._list_address()}&view_state_thread_id={thread_id}")
        await self._settle()
        await self.page.get_by_text("Mark as Resolved").wait_for()

    async def _list_address(self) -> str:
        """The address of the selected inbox's Interrupted list."""
        inboxes = json.loads(
            await self.page.evaluate("localStorage.getItem('inbox:agent_inboxes')") or "[]"
        )
        [selected] = [inbox["id"] for inbox in inboxes if inbox.get("selected")]
        return f"/?agent_inbox={selected}&inbox=interrupted&offset=0&limit=10"

    async def accept(self) -> str:
        """Press Accept; the outcome the page reports (Success or Error)."""
        await self.page.get_by_role("button", name="Accept").click()
        return await self._toast()

    async def respond(self, text: str) -> str:
        """Type a response and send it (Agent Inbox's way to reject); the outcome shown."""
        await self.page.get_by_placeholder("Your response here...").fill(text)
        await self.page.get_by_role("button", name="Send Response").click()
        return await self._toast()

    async def _toast(self) -> str:
        """The title of the notice the page shows after an answer: Success or Error."""
        title = self.page.get_by_text(re.compile(r"^(Success|Error)$")).first
        await title.wait_for()
        return await title.inner_text()

    async def shown_arguments(self) -> dict[str, str]:
        """The arguments the open request's form shows, label → value as rendered."""
        text = await self.page.locator("main").inner_text()
        pairs = re.findall(r"^([A-Z][\w ]*):\n+(.*)$", text, flags=re.MULTILINE)
        return {label.strip(): value.strip() for label, value in pairs}
