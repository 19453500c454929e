"""A real headless Chromium for the inbox tests, driven by Playwright.

Playwright's own browser downloads are not possible here, so it drives Debian's `chromium`
(`CHROMIUM`, or `SIGNOFF_CHROMIUM` to point elsewhere) with the flags a container needs.
Screenshots go to `test-output/` in the checkout (`SIGNOFF_TEST_OUTPUT` to change it).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = os.environ.get("SIGNOFF_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
OUTPUT = Path(os.environ.get("SIGNOFF_TEST_OUTPUT", Path(__file__).parent.parent / "test-output"))


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium, closed afterwards."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


async def signed_in_page(browser: Browser, base_url: str, user: str) -> Page:
    """A new browser context and page, signed in to the inbox as development user `user`
    through the sign-in form (the way a person does it)."""
    context = await browser.new_context(base_url=base_url)
    page = await context.new_page()
    await page.goto("/inbox")
    await page.get_by_label("Token").fill(f"dapi-dev-{user}")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/inbox")
    return page


async def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as `test-output/<name>.png`; its path."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
