"""The web inbox in a real headless Chromium, against the real server: sign in, filter, inspect
and decide every kind of request the five graphs raise, through the pages alone; triage a list
by summaries and amounts, read the conversation behind a tool call, and decide several requests
at once.

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

from signoff.server.inbox.session import csrf_token
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


async def show_list(page: Page, query: str, *thread_ids: str) -> None:
    """Open the list at `/inbox?<query>` once it shows the requests of every thread of
    `thread_ids`. The list may be up to `SIGNOFF_INBOX_CACHE_SECONDS` old, so reload until it
    shows them, as a person would."""
    for _ in range(20):
        await page.goto(f"/inbox?{query}")
        counts = [await page.locator(f'a[href^="/inbox/{t}"]').count() for t in thread_ids]
        if all(counts):
            return
        await page.wait_for_timeout(500)
    pytest.fail(f"the list never showed every one of {thread_ids}")


async def open_request(page: Page, thread_id: str) -> None:
    """Find the thread's request in the list (newest first: the session's server holds every
    other test's requests too) and follow its link."""
    await show_list(page, "sort=newest", thread_id)
    await page.locator(f'a[href^="/inbox/{thread_id}"]').click()
    await expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()


async def pay(flow, amount: int, target: str, as_client=None):
    """A payment of `amount` to `target` raised (by alice, or by `as_client`): its `Flow`."""
    run = flow("approve_reject")
    if as_client is not None:
        run.client = as_client
    await run.start({"operation": {"kind": "payment", "amount": amount, "target": target}})
    return run


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
    for graph in await rows.locator("td.graph").all_inner_texts():
        assert graph == "approve_reject"
    await expect(page.get_by_text("Pending by graph")).to_be_visible()
    await screenshot(page, "inbox-list")

    await page.locator(f'a[href^="/inbox/{payment.thread_id}"]').click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "payment of 5,000 USD to acct-9"
    )
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


async def test_three_payments_are_three_rows_of_summaries_sorted_by_amount(flow, signed_in):
    """Three payments alike but for amount and account read as three different rows, each
    its summary first; sorted by amount the largest comes first, and the default order is
    still oldest first."""
    tag = flow("approve_reject").tag[:8]
    amounts = (5000, 12500, 980000)
    runs = [await pay(flow, amount, f"acct-{tag}-{amount}") for amount in amounts]
    summaries = [f"payment of {amount:,} USD to acct-{tag}-{amount}" for amount in amounts]
    page = await signed_in("bob")
    await show_list(page, "graph=approve_reject&sort=amount", *(run.thread_id for run in runs))
    await expect(page.get_by_label("Sort by")).to_have_value("amount")
    rows = page.locator("tbody tr").filter(has_text=f"acct-{tag}-")
    assert await rows.locator("td.request a").all_inner_texts() == summaries[::-1]
    await expect(page.get_by_role("columnheader", name="May decide")).to_be_visible()
    await expect(page.get_by_role("columnheader", name="Decided by")).to_have_count(0)
    largest = rows.filter(has_text=summaries[2])
    may_decide = largest.locator("td.deciders")
    await expect(may_decide).to_contain_text("finance, managers")
    await expect(may_decide).to_contain_text("0 of 2: waiting for 1 of managers and 1 of finance")
    await screenshot(page, "inbox-list-by-amount")

    await page.get_by_label("Sort by").select_option("age")
    await page.get_by_role("button", name="Apply").click()
    assert await rows.locator("td.request a").all_inner_texts() == summaries


async def test_a_tool_call_shows_its_title_and_the_conversation_that_led_to_it(flow, signed_in):
    run = flow("review_tool_calls")
    asked = f"refund 7 on order 21 because broken <i>box</i> {run.tag} and cancel run 5"
    await run.start(said(asked))
    page = await signed_in("bob")  # support-leads
    await show_list(page, "sort=newest", run.thread_id)
    row = page.locator("tbody tr").filter(has=page.locator(f'a[href^="/inbox/{run.thread_id}"]'))
    await expect(row.locator("td.request a")).to_have_text("Issue refund of 7 for order 21")
    await expect(row).not_to_contain_text("main__support__issue_refund")
    await row.locator("td.request a").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Issue refund of 7 for order 21"
    )
    said_before = page.get_by_role("region", name="The conversation that led to this call")
    await expect(said_before).to_contain_text(asked)  # the markup shown as text
    await expect(said_before).to_contain_text(
        "I would cancel run 5, but no `terminate_databricks_job` tool is available here."
    )
    arguments = page.get_by_label("Arguments of Issue refund")
    await expect(arguments).to_contain_text("order_id")
    above, below = await said_before.bounding_box(), await arguments.bounding_box()
    assert above and below and above["y"] + above["height"] <= below["y"]
    await expect(page.get_by_role("main")).not_to_contain_text("main__support__issue_refund")
    await screenshot(page, "inbox-tool-call")

    await page.get_by_role("button", name="Approve", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text("Request approved.")
    await expect(page.get_by_role("cell", name="Issue refund", exact=True)).to_be_visible()
    await expect(page.get_by_role("main")).not_to_contain_text("main__support__issue_refund")
    [refund] = run.refunds()
    assert (refund["order_id"], refund["amount"]) == (21, 7.0)


async def test_approve_selected_answers_each_on_its_own_and_lists_what_was_not(
    flow, signed_in, clients
):
    """bob checks three of alice's payments and approves them together; dave approved one
    of them meanwhile. The other two are approved, each with its own audit entry and its
    reason; the page names the third and why. bob's own request has no checkbox."""
    tag = flow("approve_reject").tag[:8]
    runs = [await pay(flow, 3000 + n, f"acct-{tag}-{n}") for n in range(3)]
    own = await pay(flow, 4000, f"acct-{tag}-bob", as_client=clients("bob"))
    summaries = [f"payment of {3000 + n:,} USD to acct-{tag}-{n}" for n in range(3)]
    page = await signed_in("bob")
    await show_list(page, "sort=newest", *(run.thread_id for run in [*runs, own]))
    own_row = page.locator("tbody tr").filter(has_text=f"acct-{tag}-bob")
    await expect(own_row).to_contain_text("raised by you")
    await expect(own_row.get_by_role("checkbox")).to_have_count(0)
    for summary in summaries:
        await page.get_by_label(f"Select {summary}").check()

    meanwhile = (await runs[1].request())["request_id"]
    await runs[1].resume({"decisions": [{"type": "approve"}]}, as_user="dave")
    await page.get_by_label("Reason or comment").fill("invoices checked in one batch")
    await page.get_by_role("button", name="Approve selected").click()

    await expect(
        page.get_by_role("heading", name="Approved 2 of 3 selected requests.")
    ).to_be_visible()
    decided, refused = page.get_by_role("status"), page.get_by_role("alert")
    await expect(decided).to_contain_text(summaries[0])
    await expect(decided).to_contain_text(summaries[2])
    await expect(decided).not_to_contain_text(summaries[1])
    await expect(refused).to_contain_text(
        f"{summaries[1]}: Request {meanwhile} is no longer pending: someone else decided or "
        "withdrew it meanwhile."
    )
    await expect(page.get_by_label(f"Select {summaries[0]}")).to_have_count(0)  # left the list
    await screenshot(page, "inbox-bulk-approved")
    for run in (runs[0], runs[2]):
        values = await run.values()
        [entry] = values["audit"]
        assert values["status"] == "executed" and len(run.executions()) == 1
        assert (entry["decision"], entry["reviewer"], entry["comment"]) == (
            "approve",
            "bob@signoff.local",
            "invoices checked in one batch",
        )
    [entry] = (await runs[1].values())["audit"]
    assert entry["reviewer"] == "dave@signoff.local" and len(runs[1].executions()) == 1
    assert await own.status() == "interrupted" and own.executions() == []


async def test_decide_selected_checks_the_form_and_refuses_request_by_request(
    flow, server, clients
):
    """Posted by hand: a form without the session's CSRF value, with no request or more than
    100 decides nothing; a selection with bob's own request and one he may not see approves
    the one he may decide, and says why not for each other, naming no request he may not
    see."""
    mine = await pay(flow, 5000, "acct-9", as_client=clients("bob"))
    theirs = await pay(flow, 5000, "acct-9")
    unseen = flow("databricks_workflow")  # data-engineers decide it: bob may not see it
    await unseen.start(said(f"start the nightly job for {unseen.tag}"))
    moved = await pay(flow, 5000, "acct-9")  # its row showed other arguments than it has now
    requests = [await run.request() for run in (mine, theirs, unseen, moved)]
    picked = [
        f"{run.thread_id}/{r['request_id']}/{r['args_digest']}"
        for run, r in zip((mine, theirs, unseen), requests[:3], strict=True)
    ]
    picked.append(f"{moved.thread_id}/{requests[3]['request_id']}/{'0' * 64}")
    async with httpx.AsyncClient(base_url=server.url, headers={"Origin": server.url}) as http:
        signed = await http.post("/inbox/sign-in", data={"token": "dapi-dev-bob"})
        http.cookies.set("signoff_session", signed.cookies["signoff_session"], path="/inbox")
        form = {"decision": "approve", "selected": picked, "csrf": csrf_token("dapi-dev-bob")}
        forged = await http.post("/inbox/decide", data={**form, "csrf": "guessed"})
        assert forged.status_code == 403 and "stale or from another site" in forged.text
        too_many = await http.post("/inbox/decide", data={**form, "selected": picked * 26})
        assert too_many.status_code == 400 and "decide at most 100 at once" in too_many.text
        nothing = await http.post("/inbox/decide", data={**form, "selected": []})
        assert nothing.status_code == 400 and "No request was selected" in nothing.text
        other = await http.post("/inbox/decide", data={**form, "decision": "edit"})
        assert other.status_code == 400 and "Approve selected or Reject selected" in other.text
        assert await theirs.status() == "interrupted"  # nothing was decided

        done = await http.post("/inbox/decide", data={**form, "message": "checked"})
    assert done.status_code == 200 and "Approved 1 of 4 selected requests." in done.text
    assert "Stale answer: args_digest" in done.text
    assert "raised this request, so cannot decide it (four-eyes)" in done.text
    unseen_id = picked[2].split("/")[1]  # named by its ids: bob may not see what it asks
    named = f"request {unseen_id} of thread {unseen.thread_id}</a>: There is no thread"
    assert named in done.text and "nightly" not in done.text
    [entry] = (await theirs.values())["audit"]
    assert (entry["reviewer"], entry["comment"]) == ("bob@signoff.local", "checked")
    assert await mine.status() == "interrupted" and await unseen.status() == "interrupted"
    assert await moved.status() == "interrupted" and moved.executions() == []
