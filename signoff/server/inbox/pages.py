"""The web inbox's pages, served at `/inbox` by the app `langgraph.json` mounts.

    GET  /inbox                       the list (filters: graph, stage, role; sort; page) + stats
    POST /inbox/decide                approve or reject the requests checked in the list (`bulk`)
    GET  /inbox/sign-in, POST         sign in with a token (`session`)
    POST /inbox/sign-out
    GET  /inbox/{thread_id}           a thread's pending requests, its draft diff, its audit trail
    POST /inbox/{thread_id}/answer    decide: approve, edit, reject, respond or withdraw
    POST /inbox/{thread_id}/continue  run a thread on: show a request changed by an admin's
                                      state edit again, or finish what a stopped run approved

A user sees only the threads the API would show them (`signoff.governance.visibility`): any other is
a 404, as from the API. Sign-in and sign-out accept only forms posted from the inbox's own
pages (their `Origin`, or `Referer`, is this server): another site can neither sign a
browser in with a token of its choosing nor sign it out.

Pages are rendered on the server (Jinja2, autoescaped; what they show of a request is
`display`) from plain forms, with one stylesheet served from the package: nothing comes from
the network, and every control is a labelled native input or button. Reads go through the
server's own client (`signoff.server.server_client`); every answer goes to the API as the
signed-in user (`signoff.client.answering`), so a refusal or an invalid edit shows the
server's own message, and the request stays pending. Several requests checked in the list
are answered the same way, each on its own (`bulk`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlencode

import httpx
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import Thread, ThreadState
from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from signoff.client.answering import Refused, answer_request, continue_thread
from signoff.client.pending_requests import PendingRequest, requests_of, run_on_reason, stats_of
from signoff.governance.audit import changes_between, verify_thread
from signoff.governance.identity import UnknownToken
from signoff.governance.policy import HOW_TO_SIGN_IN, is_admin
from signoff.governance.visibility import may_see, not_visible, viewers_of
from signoff.protocol.shapes import ApprovalRequest
from signoff.protocol.summaries import summary_of
from signoff.server.acting import own_api
from signoff.server.inbox.bulk import BulkResult, Selected, decide_each, selection
from signoff.server.inbox.decisions import RequestView, answer_from_form, request_view
from signoff.server.inbox.display import TEMPLATES
from signoff.server.inbox.grant_offer import GrantOffer, spec_from_form
from signoff.server.inbox.queue import (
    Filters,
    list_page,
    pending_index,
    seen_by,
    todays_decisions,
)
from signoff.server.inbox.session import (
    Session,
    csrf_ok,
    forget,
    from_this_site,
    keep,
    sign_in,
    signed_in,
)
from signoff.server.server_client import server_client
from signoff.server.standing_api import create_grant_as
from signoff.standing.grants import Refused as GrantRefused

PENDING = pending_index()
TODAY = todays_decisions()
ANSWERED = {
    "approve": "approved",
    "edit": "edited and approved",
    "reject": "rejected",
    "respond": "answered with your response",
    "withdraw": "withdrawn",
}


async def list_view(request: Request) -> Response:
    """The pending requests the signed-in user may decide (admins: all), with the stats."""
    session = await signed_in(request)
    if session is None:
        return _to_sign_in(request)
    return await _list_page(session, request.query_params)


async def decide_selected(request: Request) -> Response:
    """Approve or reject every request checked in the list, each as its own answer
    (`bulk`); the list again (as it was filtered), saying which were decided and which were
    not, and why."""
    posted = await _posted_form(request)
    if isinstance(posted, Response):
        return posted
    session, form = posted
    values = [value for value in form.getlist("selected") if isinstance(value, str)]
    try:
        decision, chosen = selection(_text(form, "decision"), values)
    except Refused as refusal:
        return await _list_page(session, _posted(form), error=str(refusal), status=refusal.status)
    seen = seen_by(await PENDING.current(server_client()), session.identity, session.delegations)
    summaries = {pending.request_id: summary_of(pending.request) for pending in seen}
    reason = {"message": _text(form, "message")}

    async def decide(selected: Selected) -> None:
        thread_id, request_id = selected.thread_id, selected.request_id
        try:
            await _decide(
                request, session, thread_id, request_id, decision, reason, selected.args_digest
            )
        except Refused as refusal:
            if refusal.status == 404 and request_id in summaries:  # in their list a moment ago
                raise Refused(
                    f"Request {request_id} is no longer pending: someone else decided or "
                    "withdrew it meanwhile.",
                    409,
                ) from None
            raise

    def label(selected: Selected) -> str:
        ids = f"request {selected.request_id} of thread {selected.thread_id}"
        return summaries.get(selected.request_id) or ids

    outcomes = await decide_each(chosen, decide, label)
    decided = {outcome.selected.request_id for outcome in outcomes if outcome.refusal is None}
    PENDING.update(lambda pending: [p for p in pending if p.request_id not in decided])
    TODAY.read_again()
    return await _list_page(session, _posted(form), results=BulkResult(decision, outcomes))


async def _list_page(
    session: Session,
    query: Mapping[str, str],
    *,
    results: BulkResult | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    """The list for `session` with the filters of `query`, after `results` or an `error`."""
    client = server_client()
    pending = await PENDING.current(client)
    filters = Filters.from_query(query)
    page = list_page(pending, session.identity, filters, session.delegations)

    def page_link(number: int) -> str:
        query = {k: v for k, v in vars(filters).items() if v and k != "page"}
        return "/inbox?" + urlencode({**query, "page": number})

    return _render(
        "list.html",
        status=status,
        session=session,
        page=page,
        filters=vars(filters),
        admin=is_admin(session.identity),
        stats=stats_of(pending, await TODAY.current(client)),
        page_link=page_link,
        results=results,
        error=error,
    )


async def thread_view(request: Request) -> Response:
    """One thread: what it waits for and what the user may do about it."""
    session = await signed_in(request)
    if session is None:
        return _to_sign_in(request)
    query = request.query_params
    answered = query.get("answered", "")
    notice = f"Request {ANSWERED[answered]}." if answered in ANSWERED else None
    if notice and (granted := query.get("granted")):
        notice += f" Standing approval {granted} allows the same from now on (signoff grants)."
    elif notice and (refused := query.get("grant_refused")):
        notice += f" No standing approval was made: {refused}"
    return await _thread_page(request, session, notice=notice)


async def answer(request: Request) -> Response:
    """Send the posted decision as the signed-in user; back to the thread, with the server's
    message if it was not accepted."""
    posted = await _posted_form(request)
    if isinstance(posted, Response):
        return posted
    session, form = posted
    thread_id, request_id = request.path_params["thread_id"], _text(form, "request_id")
    decision = _text(form, "decision")
    try:
        view = await _decide(request, session, thread_id, request_id, decision, _posted(form))
    except Refused as refusal:
        return await _thread_page(
            request, session, error=str(refusal), posted=_posted(form), status=refusal.status
        )
    PENDING.update(lambda pending: [p for p in pending if p.request_id != request_id])
    TODAY.read_again()
    granted = ""
    if decision == "approve" and view.grant and _text(form, "allow_same"):
        granted = await _grant_the_same(session, view.grant, _posted(form))
    return RedirectResponse(f"/inbox/{thread_id}?answered={decision}{granted}", status_code=303)


async def _decide(
    request: Request,
    session: Session,
    thread_id: str,
    request_id: str,
    decision: str,
    posted: dict[str, str],
    args_digest: str | None = None,
) -> RequestView:
    """Send the answer `posted` makes (`decision`) to request `request_id` of `thread_id`, as
    the signed-in user, bound to `args_digest` (the arguments the page showed) when given;
    the view it was answered from. Raises `Refused` with why not."""
    views = await _views(server_client(), session, thread_id)
    view = next((v for v in views if v.pending.request_id == request_id), None)
    if view is None:
        raise Refused(f"Request {request_id} is no longer pending on this thread.", 409)
    built = answer_from_form(decision, view, posted)
    if args_digest is not None:
        built = {**built, "args_digest": args_digest}
    async with own_api(request, session.token) as api:
        await answer_request(api, thread_id, built, request_id)
    return view


async def _grant_the_same(session: Session, offer: GrantOffer, posted: dict[str, str]) -> str:
    """Grant what the approve form's "allow the same" asked for, as the signed-in user; the
    query that tells the next page what came of it."""
    try:
        made = await create_grant_as(session.identity, spec_from_form(offer, posted))
    except GrantRefused as refusal:
        return "&" + urlencode({"grant_refused": refusal.detail})
    return "&" + urlencode({"granted": made["id"]})


async def continue_run(request: Request) -> Response:
    """Run on a thread that waits on no request but should go on (`run_on_reason`): its
    paused request was changed by a state edit (it is shown again, as it is now), or its last
    run stopped after an approval (what was approved runs); the sweeper does the same within
    `SIGNOFF_SWEEP_SECONDS`."""
    posted = await _posted_form(request)
    if isinstance(posted, Response):
        return posted
    session, _ = posted
    thread_id = request.path_params["thread_id"]
    try:
        await _read(server_client(), thread_id, session)
        if await run_on_reason(server_client(), thread_id):  # not if the sweeper did it
            async with own_api(request, session.token) as api:
                await continue_thread(api, thread_id)
    except Refused as refusal:
        return await _thread_page(request, session, error=str(refusal), status=refusal.status)
    PENDING.read_again()
    return RedirectResponse(f"/inbox/{thread_id}", status_code=303)


async def sign_in_page(request: Request) -> Response:
    """The sign-in form; posting it checks the token and keeps it in the session cookie."""
    next_page = request.query_params.get("next", "/inbox")
    if request.method == "GET":
        return _render("sign_in.html", session=None, next=_local(next_page), error=None)
    if not from_this_site(request):
        return _other_site(request)
    form = await request.form()
    next_page = _local(_text(form, "next") or "/inbox")
    try:
        session = await sign_in(_text(form, "token"))
    except UnknownToken as error:
        message = f"This token does not sign anyone in ({error}). {HOW_TO_SIGN_IN}"
        return _render("sign_in.html", session=None, next=next_page, error=message, status=401)
    response = RedirectResponse(next_page, status_code=303)
    keep(response, session)
    return response


async def sign_out(request: Request) -> Response:
    """Forget the session cookie."""
    if not from_this_site(request):
        return _other_site(request)
    response = RedirectResponse("/inbox/sign-in", status_code=303)
    forget(response)
    return response


def routes() -> list[BaseRoute]:
    """The inbox's routes, for the mounted app."""
    return [
        Route("/inbox", list_view),
        Route("/inbox/sign-in", sign_in_page, methods=["GET", "POST"]),
        Route("/inbox/sign-out", sign_out, methods=["POST"]),
        Route("/inbox/decide", decide_selected, methods=["POST"]),
        Mount("/inbox/static", StaticFiles(packages=[("signoff.server.inbox", "static")])),
        Route("/inbox/{thread_id}", thread_view),
        Route("/inbox/{thread_id}/answer", answer, methods=["POST"]),
        Route("/inbox/{thread_id}/continue", continue_run, methods=["POST"]),
    ]


async def _thread_page(
    request: Request,
    session: Session,
    *,
    notice: str | None = None,
    error: str | None = None,
    posted: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    thread_id = request.path_params["thread_id"]
    try:
        thread, state = await _read(server_client(), thread_id, session)
    except Refused as missing:
        return _message(session, str(missing), missing.status)
    views = [
        request_view(session.identity, p, posted, session.delegations)
        for p in _waiting(thread, state)
    ]
    values = raw if isinstance(raw := state.get("values"), dict) else {}
    trail = values.get("audit") or []
    audit = [entry for entry in trail if isinstance(entry, dict)] if isinstance(trail, list) else []
    prepared, draft = values.get("prepared_draft"), values.get("draft")
    return _render(
        "request.html",
        status=status,
        session=session,
        thread_id=thread_id,
        graph=(thread.get("metadata") or {}).get("graph_id"),
        status_text=values.get("status"),
        run_on=None if views else await run_on_reason(server_client(), thread_id),
        heading=_heading(views, thread_id),
        views=views,
        notice=notice,
        error=error,
        audit=audit,
        audit_problem=verify_thread(values, thread_id) if trail else None,
        draft_changes=changes_between(prepared, draft)
        if isinstance(prepared, dict) and isinstance(draft, dict)
        else None,
    )


async def _views(client: LangGraphClient, session: Session, thread_id: str) -> list[RequestView]:
    thread, state = await _read(client, thread_id, session)
    return [
        request_view(session.identity, p, None, session.delegations)
        for p in _waiting(thread, state)
    ]


async def _read(
    client: LangGraphClient, thread_id: str, session: Session
) -> tuple[Thread, ThreadState]:
    """The thread record and its state, for a user who may see it (`signoff.governance.visibility`,
    as the API decides); `Refused` (404) for any other thread, and for one that does not exist."""
    try:
        thread, state = (
            await client.threads.get(thread_id),
            await client.threads.get_state(thread_id),
        )
    except httpx.HTTPStatusError as failure:
        if failure.response.status_code in (404, 422):  # 422: not even a thread id
            raise Refused(not_visible(thread_id, session.identity), 404) from None
        raise
    viewers = viewers_of(thread.get("metadata") or {}, state.get("values"), _interrupts(state))
    if not may_see(session.identity, viewers):
        raise Refused(not_visible(thread_id, session.identity), 404)
    return thread, state


def _waiting(thread: Thread, state: ThreadState) -> list[PendingRequest]:
    return requests_of(cast(dict[str, Any], thread), _interrupts(state))


def _interrupts(state: ThreadState) -> list[dict[str, Any]]:
    """The state's pending interrupts, as the records (`{"id", "value"}`) that `viewers_of` and
    `requests_of` read: they take any server record as a plain `dict`, not the SDK's types."""
    return cast(list[dict[str, Any]], state.get("interrupts") or [])


async def _posted_form(request: Request) -> tuple[Session, FormData] | Response:
    """The session and form of a POST that changes something; the refusal page for one
    without a sign-in or without the session's CSRF value."""
    session = await signed_in(request)
    if session is None:
        return _to_sign_in(request, status=401)
    form = await request.form()
    if not csrf_ok(session, _text(form, "csrf")):
        return _message(session, "This form is stale or from another site: reload and retry.", 403)
    return session, form


def _heading(views: list[RequestView], thread_id: str) -> str:
    if not views:
        return f"Thread {thread_id}"
    if len(views) > 1:
        return f"{len(views)} requests wait on this thread"
    return summary_of(views[0].request)


def _render(template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    session: Session | None = context.get("session")

    def hidden(request: ApprovalRequest, decision: str) -> Markup:
        fields = {
            "csrf": session.csrf if session else "",
            "request_id": request["request_id"],
            "decision": decision,
        }
        return Markup("").join(
            Markup('<input type="hidden" name="{}" value="{}">').format(name, value)
            for name, value in fields.items()
        )

    page = TEMPLATES.get_template(template).render(hidden=hidden, **context)
    return HTMLResponse(page, status_code=status, headers=SECURITY_HEADERS)


def _message(session: Session | None, text: str, status: int) -> HTMLResponse:
    return _render("message.html", session=session, text=text, status=status)


def _other_site(request: Request) -> Response:
    """The refusal of a sign-in or sign-out form posted from another site."""
    source = request.headers.get("origin") or request.headers.get("referer") or "nowhere named"
    return _message(
        None,
        f"This form was posted from {source}, not from this inbox: sign in and out only from "
        "the inbox's own pages (open /inbox/sign-in on this server).",
        403,
    )


def _to_sign_in(request: Request, status: int = 303) -> Response:
    if status != 303:
        return _render("sign_in.html", session=None, next="/inbox", error=None, status=status)
    return RedirectResponse(
        "/inbox/sign-in?" + urlencode({"next": request.url.path}), status_code=303
    )


def _local(path: str) -> str:
    """`path` if it is a page of the inbox, else the list: sign-in never redirects away."""
    return path if path.startswith("/inbox") and "//" not in path else "/inbox"


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _posted(form: FormData) -> dict[str, str]:
    return {name: value for name, value in form.items() if isinstance(value, str)}


SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
