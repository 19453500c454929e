"""The web inbox in a real headless Chromium, against the real server: sign in, filter, inspect
and decide every kind of request the five graphs raise, through the pages alone.

Requests are raised by alice through the SDK (as an agent would); every decision is made by
clicking and typing in the browser, and checked through the thread's state and audit trail.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser import chromium, screenshot, signed_in_page

PAYMENT = {"operation": {"kind": "payment", "amount": 5000, "target": "acct-9"}}
BRIEF = {"brief": {"to": ["ops@example.com"], "topic": "the outage"}}
RELEASE = {"action": {"name": "deploy_release", "args": {"version": "2.0"}}}


def said(text: str) -> dict[str, Any]:
    """Graph input carrying one user message."""
    return {"messages": [{"role": "user", "content": text}]}


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the module."""
    async with chromium() as running:
        yield running


@pytest.fixture
async def signed_in(browser: Browser, server) -> AsyncIterator[Callable[[str], Awaitable[Page]]]:
    """Factory: `await signed_in("bob")` is a page of the inbox signed in as bob (each user in
    a browser context of their own, closed after the test)."""
    pages: list[Page] = []

    async def sign_in(user: str) -> Page:
        pages.append(await signed_in_page(browser, server.url, user))
        return pages[-1]

    yield sign_in
    for page in pages:
        await page.context.close()


async def open_request(page: Page, thread_id: str) -> None:
    """Find the thread's request in the list (newest first: the session's server holds every
    other test's requests too) and follow its link. The list may be up to
    `SIGNOFF_INBOX_CACHE_SECONDS` old, so reload until it shows, as a person would."""
    link = page.locator(f'a[href^="/inbox/{thread_id}"]')
    for _ in range(20):
        await page.goto("/inbox?sort=newest")
        if await link.count():
            break
        await page.wait_for_timeout(500)
    await link.click()
    await expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()


async def test_sign_in_filter_and_approve_with_a_comment(flow, signed_in):
    payment, draft = flow("approve_reject"), flow("edit_state")
    await payment.start(PAYMENT)
    await draft.start(BRIEF)
    page = await signed_in("bob")
    await expect(page.get_by_text("Signed in as bob@signoff.local")).to_be_visible()
    rows = page.locator("tbody tr")
    await page.get_by_label("Sort by").select_option("newest")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator(f'a[href^="/inbox/{payment.thread_id}"]')).to_be_visible()
    await expect(page.locator(f'a[href^="/inbox/{draft.thread_id}"]')).to_be_visible()

    await page.get_by_label("Graph").select_option("approve_reject")
    await page.get_by_role("button", name="Apply").click()
    await expect(page).to_have_url(re.compile(r"graph=approve_reject&.*sort=newest"))
    await expect(page.locator(f'a[href^="/inbox/{draft.thread_id}"]')).to_have_count(0)
    assert await rows.count() >= 1
    for graph in await rows.locator("td:nth-child(2)").all_inner_texts():
        assert graph == "approve_reject"
    await expect(page.get_by_text("Pending by graph")).to_be_visible()
    await screenshot(page, "inbox-list")

    await page.locator(f'a[href^="/inbox/{payment.thread_id}"]').click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("payment of 5000")
    arguments = page.get_by_label("Arguments of payment")
    await expect(arguments).to_contain_text("target")
    await expect(arguments.get_by_text("acct-9", exact=True)).to_be_visible()
    await expect(page.get_by_text(re.compile("Deadline: expires"))).to_be_visible()
    await screenshot(page, "inbox-request")
    await page.get_by_label("Comment (optional)").fill("invoice INV-7 checked")
    await page.get_by_role("button", name="Approve", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text("Request approved.")
    await expect(page.get_by_text("This thread waits for no decision now.")).to_be_visible()
    await expect(page.get_by_text("Verified:")).to_be_visible()

    values = await payment.values()
    assert values["status"] == "executed" and values["reviewers"] == ["bob@signoff.local"]
    assert values["audit"][0]["comment"] == "invoice INV-7 checked"
    assert len(payment.executions()) == 1


async def test_an_invalid_edit_shows_the_servers_error_then_a_fix_sends(flow, signed_in):
    run = flow("edit_state")
    await run.start(BRIEF)
    page = await signed_in("bob")
    await open_request(page, run.thread_id)
    to = page.get_by_label("To (required)")
    await expect(to).to_have_value("ops@example.com")
    await to.fill("not-an-email")
    await page.get_by_role("button", name="Save edits and approve").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("Edited arguments for 'send_message' are invalid")
    await expect(alert).to_contain_text("not email addresses: not-an-email")
    await expect(page.get_by_label("To (required)")).to_have_value("not-an-email")  # kept
    assert await run.status() == "interrupted" and run.executions() == []

    await page.get_by_label("To (required)").fill("ops@example.com\nsre@example.com")
    await page.get_by_label("Subject (required)").fill("The outage is over")
    await page.get_by_role("button", name="Save edits and approve").click()
    await expect(page.get_by_role("status")).to_have_text("Request edited and approved.")
    values = await run.values()
    assert values["status"] == "sent"
    assert values["final"]["to"] == ["ops@example.com", "sre@example.com"]
    [entry] = values["audit"]
    assert entry["decision"] == "edit" and "subject" in entry["changes"]
    await expect(page.get_by_role("cell", name="edit", exact=True)).to_be_visible()


async def test_reject_with_a_reason(flow, signed_in):
    run = flow("approve_reject")
    await run.start(PAYMENT)
    page = await signed_in("dave")  # managers and security
    await open_request(page, run.thread_id)
    await page.get_by_label("Reason for rejecting").fill("not budgeted this quarter")
    await page.get_by_role("button", name="Reject").click()
    await expect(page.get_by_role("status")).to_have_text("Request rejected.")
    values = await run.values()
    assert values["status"] == "rejected" and run.executions() == []
    assert values["audit"][0]["comment"] == "not budgeted this quarter"


async def test_someone_who_may_not_see_a_thread_sees_neither_it_nor_its_arguments(flow, signed_in):
    run = flow("approve_reject")
    await run.start(PAYMENT)
    page = await signed_in("carol")  # security and data-engineers, not managers
    await expect(page.locator(f'a[href^="/inbox/{run.thread_id}"]')).to_have_count(0)
    response = await page.goto(f"/inbox/{run.thread_id}")
    assert response is not None and response.status == 404
    await expect(page.get_by_role("alert")).to_contain_text("that carol@signoff.local may see")
    await expect(page.get_by_text("acct-9")).to_have_count(0)
    for name in ("Approve", "Reject", "Save edits and approve", "Withdraw request"):
        await expect(page.get_by_role("button", name=name)).to_have_count(0)


async def test_the_requester_may_only_withdraw(flow, signed_in):
    run = flow("approve_reject")
    await run.start(PAYMENT)
    page = await signed_in("alice")
    await open_request(page, run.thread_id)  # her own requests are listed, marked
    why = page.get_by_text(re.compile("You cannot decide this request"))
    await expect(why).to_contain_text("needs a member of managers")
    await expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    await page.get_by_label("Why (optional)").fill("wrong account")
    await page.get_by_role("button", name="Withdraw request").click()
    await expect(page.get_by_role("status")).to_have_text("Request withdrawn.")
    assert (await run.values())["status"] == "withdrawn" and run.executions() == []


async def test_a_chain_shows_earlier_decisions_and_four_eyes(flow, signed_in):
    run = flow("multi_stage_approval")
    await run.start(RELEASE)
    manager = await signed_in("dave")  # managers and security
    await open_request(manager, run.thread_id)
    await manager.get_by_role("button", name="Approve", exact=True).click()
    await expect(manager.get_by_text("stage security")).to_be_visible()
    await expect(manager.get_by_text("already decided stage 'manager'")).to_be_visible()
    await expect(manager.get_by_role("button", name="Approve")).to_have_count(0)

    security = await signed_in("carol")
    await open_request(security, run.thread_id)
    earlier = security.get_by_role("table").first
    await expect(earlier).to_contain_text("dave@signoff.local")
    await security.get_by_role("button", name="Approve", exact=True).click()
    await expect(security.get_by_role("status")).to_have_text("Request approved.")
    values = await run.values()
    assert values["status"] == "executed"
    assert [e["reviewer"] for e in values["audit"]] == ["dave@signoff.local", "carol@signoff.local"]


async def test_a_tool_call_can_be_answered_with_a_response(flow, signed_in):
    run = flow("review_tool_calls")
    await run.start(said(f"refund 5 on order 3 because late {run.tag}"))
    page = await signed_in("bob")  # support-leads
    await open_request(page, run.thread_id)
    await expect(page.get_by_label("Order Id")).to_have_value("3")
    await page.get_by_label(re.compile("Response")).fill("Already refunded by phone.")
    await page.get_by_role("button", name="Send response").click()
    await expect(page.get_by_role("status")).to_have_text("Request answered with your response.")
    messages = (await run.values())["messages"]
    assert any(m.get("content") == "Already refunded by phone." for m in messages)
    assert run.refunds() == []


async def test_a_tool_calls_numbers_are_edited_in_their_own_fields(flow, signed_in):
    run = flow("review_tool_calls")
    await run.start(said(f"refund 25 on order 17 because damaged {run.tag}"))
    page = await signed_in("bob")
    await open_request(page, run.thread_id)
    await page.get_by_label("Amount").fill("ten")
    await page.get_by_role("button", name="Save edits and approve").click()
    await expect(page.get_by_role("alert")).to_contain_text("amount")
    assert run.refunds() == []
    await page.get_by_label("Amount").fill("10")
    await page.get_by_role("button", name="Save edits and approve").click()
    await expect(page.get_by_role("status")).to_have_text("Request edited and approved.")
    [refund] = run.refunds()
    assert (refund["order_id"], refund["amount"]) == (17, 10.0)


async def test_a_draft_changed_by_an_admin_shows_its_diff(flow, signed_in, admin):
    run = flow("edit_state")
    await run.start(BRIEF)
    draft = (await run.request())["action_requests"][0]["args"]
    changed = {**draft, "body": draft["body"].replace("Hello", "Dear team")}
    await admin.threads.update_state(run.thread_id, {"draft": changed})
    page = await signed_in("bob")
    await page.goto(f"/inbox/{run.thread_id}")  # e.g. from the link the admin sent
    show_again = page.get_by_role("button", name="Show the request again")
    if await show_again.count():  # unless the server's sweeper has just shown it again
        await show_again.click()
    diff = page.get_by_role("region", name="Changes to the prepared draft")
    await expect(diff).to_contain_text("-Hello,")
    await expect(diff).to_contain_text("+Dear team,")
    await page.get_by_role("button", name="Approve", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text("Request approved.")
    assert (await run.values())["final"]["body"].startswith("Dear team,")


async def test_a_databricks_job_is_approved_with_the_keyboard_alone(flow, signed_in):
    run = flow("databricks_workflow")
    await run.start(said(f"start the nightly job for {run.tag}"))
    page = await signed_in("carol")  # data-engineers
    await page.goto(f"/inbox/{run.thread_id}")
    await page.get_by_role("link", name="All pending approvals").focus()
    for _ in range(40):  # Tab through the page to the Approve button, as a keyboard user does
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement.textContent.trim()")
        if focused == "Approve":
            break
    else:
        pytest.fail("Tab never reached the Approve button")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text("Request approved.")
    assert len(run.job_runs()) == 1


async def test_every_control_has_a_label_and_nothing_loads_from_the_network(
    flow, signed_in, server
):
    run = flow("edit_state")
    await run.start(BRIEF)
    page = await signed_in("bob")
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    for path in ("/inbox", f"/inbox/{run.thread_id}"):
        await page.goto(path)
        unlabelled = await page.evaluate(
            """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
               .filter(el => el.labels.length === 0).map(el => el.name)"""
        )
        assert unlabelled == [], f"{path}: inputs without a label: {unlabelled}"
    assert requested and all(url.startswith(server.url) for url in requested), requested


async def test_sign_in_refuses_an_unknown_token_and_the_cookie_is_locked_down(browser, server):
    context = await browser.new_context(base_url=server.url)
    page = await context.new_page()
    await page.goto("/inbox")
    await page.get_by_label("Token").fill("dapi-nobody")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("does not sign anyone in")
    await page.get_by_label("Token").fill("dapi-dev-bob")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/inbox")
    [cookie] = await context.cookies()
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Strict")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("Token")).to_be_visible()
    assert await context.cookies() == []
    await context.close()


async def test_forms_without_the_sessions_csrf_value_an_unknown_thread_and_no_sign_in(flow, server):
    run = flow("approve_reject")
    await run.start(PAYMENT)
    request_id = (await run.request())["request_id"]
    answer = f"/inbox/{run.thread_id}/answer"
    approve = {"decision": "approve", "request_id": request_id}
    async with httpx.AsyncClient(base_url=server.url, headers={"Origin": server.url}) as http:
        assert (await http.post(answer, data=approve)).status_code == 401  # not signed in
        signed = await http.post("/inbox/sign-in", data={"token": "dapi-dev-bob"})
        http.cookies.set("signoff_session", signed.cookies["signoff_session"], path="/inbox")
        forged = await http.post(answer, data={**approve, "csrf": "guessed"})
        assert forged.status_code == 403 and "stale or from another site" in forged.text
        missing = await http.get("/inbox/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404 and "There is no thread" in missing.text
        assert "bob@signoff.local may see" in missing.text
        assert (await http.get("/inbox/not-a-thread")).status_code == 404
        page = await http.get(f"/inbox/{run.thread_id}")
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert await run.status() == "interrupted" and run.executions() == []


async def test_no_show_again_for_an_edit_that_moved_a_thread_past_its_review(flow, server, admin):
    run = flow("approve_reject")
    await run.start(PAYMENT)
    await admin.threads.update_state(run.thread_id, {}, as_node="auto_approve")
    async with httpx.AsyncClient(base_url=server.url, headers={"Origin": server.url}) as http:
        signed = await http.post("/inbox/sign-in", data={"token": "dapi-dev-bob"})
        http.cookies.set("signoff_session", signed.cookies["signoff_session"], path="/inbox")
        page = await http.get(f"/inbox/{run.thread_id}")
    assert page.status_code == 200 and "waits for no decision now" in page.text
    assert "Show the request again" not in page.text  # the sweeper's rule, the same check
    assert run.executions() == []


async def test_approve_and_allow_the_same_makes_a_grant_a_later_run_uses(flow, signed_in, server):
    """bob approves alice's payment in the inbox "and allows the same" twice more: the next
    payment like it runs without pausing (its audit names the grant and bob), a larger one
    still waits for a person, and after bob revokes the grant nothing runs on it."""
    target = f"acct-{flow('approve_reject').tag[:8]}"  # no other test's payment is like these
    first = flow("approve_reject")
    await first.start({"operation": {"kind": "payment", "amount": 2000, "target": target}})
    page = await signed_in("bob")
    await open_request(page, first.thread_id)
    offer = page.get_by_role("group", name="Allow the same")
    await expect(offer).to_contain_text("amount <= 2000")
    await expect(offer).to_contain_text(target)
    await offer.get_by_label("and allow the same for …").check()
    await offer.get_by_label("How many requests").fill("2")
    await page.get_by_role("button", name="Approve", exact=True).click()
    notice = page.get_by_role("status")
    await expect(notice).to_contain_text("Request approved. Standing approval")
    grant_id = re.search(r"Standing approval (\S+) allows", await notice.inner_text())[1]
    assert (await first.values())["status"] == "executed"

    later = flow("approve_reject")
    values = await later.start({"operation": {"kind": "payment", "amount": 1500, "target": target}})
    assert values["status"] == "executed" and await later.status() == "idle"
    [entry] = values["audit"]
    assert entry["reviewer"] == "bob@signoff.local"
    assert entry["grant"] == {"id": grant_id, "granted_by": "bob@signoff.local"}

    larger = flow("approve_reject")
    await larger.start({"operation": {"kind": "payment", "amount": 2500, "target": target}})
    assert await larger.status() == "interrupted"  # outside the grant: a person decides

    async with httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": "Bearer dapi-dev-bob"}
    ) as http:
        revoked = await http.delete(f"/signoff/grants/{grant_id}")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    after = flow("approve_reject")
    await after.start({"operation": {"kind": "payment", "amount": 1200, "target": target}})
    assert await after.status() == "interrupted" and after.executions() == []
