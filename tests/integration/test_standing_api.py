"""Standing approvals and delegations through the real server: the API grants, lists and
revokes with the server's auth and its own store; nobody, admins included, writes signoff's
records through the store API; and a one-use grant approves exactly one of two concurrent
runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from signoff.governance.identity import Identity
from signoff.server.store_scope import root_of, write_refusal
from tests.dev_users import TOKENS, user_name
from tests.integration.test_authorization import refused_with

PAYMENT = {"operation": {"kind": "payment", "amount": 5000, "target": "acct-9"}}


@asynccontextmanager
async def api_as(server, name: str | None) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of `server` signed in as development user `name` (`None`: nobody)."""
    headers = {"Authorization": f"Bearer {TOKENS[name]}"} if name else {}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
        yield http


async def grant_as(server, name: str, **spec: Any) -> httpx.Response:
    body = {"rule": "approve_reject", "covers": {}, "expires_in": "1d", **spec}
    async with api_as(server, name) as http:
        return await http.post("/signoff/grants", json=body)


async def listed(server, name: str, path: str = "/signoff/grants", **params: str) -> list[str]:
    async with api_as(server, name) as http:
        answer = await http.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()]


async def test_a_manager_grants_and_who_may_see_list_it_and_only_the_grantor_or_an_admin_revokes(
    server,
):
    made = await grant_as(
        server,
        "bob",
        covers={"requester": user_name("alice")},
        constraints={"amount": {"max": 5000}, "target": {"in": ["acct-9"]}},
        uses=3,
        note="release week",
    )
    assert made.status_code == 201, made.text
    grant = made.json()
    assert grant["granted_by"] == user_name("bob") and grant["left"]["uses"] == 3
    assert "signature" in grant and grant["state"] == "live"
    # the grantor, the requester covered, deciders of the rule (frank: finance), an admin
    for name in ("bob", "alice", "dave", "frank", "erin"):
        assert grant["id"] in await listed(server, name), name
    assert grant["id"] not in await listed(server, "carol")

    async with api_as(server, "carol") as http:
        answer = await http.delete(f"/signoff/grants/{grant['id']}")
    assert answer.status_code == 404 and "may see" in answer.json()["detail"]
    async with api_as(server, "dave") as http:
        answer = await http.delete(f"/signoff/grants/{grant['id']}")
    assert answer.status_code == 403 and "only bob@signoff.local" in answer.json()["detail"]
    async with api_as(server, "bob") as http:
        answer = await http.delete(f"/signoff/grants/{grant['id']}")
    assert answer.status_code == 200 and answer.json()["state"] == "revoked"
    assert grant["id"] not in await listed(server, "bob")
    assert grant["id"] in await listed(server, "bob", all="1")


async def test_grants_nobody_may_make_are_refused_with_what_would_be_allowed(server):
    async with api_as(server, None) as http:
        answer = await http.post("/signoff/grants", json={})
    assert answer.status_code == 401 and "Authorization: Bearer" in answer.json()["detail"]
    for name in ("alice", "frank"):
        answer = await grant_as(server, name)
        assert answer.status_code == 403, answer.text
        assert "only a member of managers decides its requests alone" in answer.json()["detail"]
    answer = await grant_as(server, "bob", covers={"requester": user_name("bob")})
    assert answer.status_code == 422 and "never its grantor" in answer.json()["detail"]
    answer = await grant_as(server, "bob", expires_in="120d")
    assert answer.status_code == 422 and "at most 90 days" in answer.json()["detail"]
    async with api_as(server, "bob") as http:
        answer = await http.post("/signoff/grants", content=b"{not json")
    assert answer.status_code == 422 and "JSON object" in answer.json()["detail"]


async def test_nobody_writes_or_deletes_signoffs_records_through_the_store_api(server, clients):
    grant = (await grant_as(server, "bob", uses=1)).json()
    namespace = ("signoff", "grants", "approve_reject")
    forged = {**grant, "uses": None, "granted_by": user_name("erin")}
    for name in ("erin", "alice", "bob"):  # an admin, and anyone else
        client = clients(name)
        detail = await refused_with(403, client.store.put_item(namespace, grant["id"], forged))
        assert "Nobody writes or deletes under the store namespace 'signoff'" in detail
        assert "POST/DELETE /signoff/grants" in detail
        await refused_with(403, client.store.delete_item(namespace, grant["id"]))
        uses = ("signoff", "grant_uses", grant["id"])
        await refused_with(403, client.store.put_item(uses, "r1", {"verdict": "refused"}))
    kept = await clients("erin").store.get_item(namespace, grant["id"])  # admins still read
    assert kept["value"]["uses"] == 1 and kept["value"]["granted_by"] == user_name("bob")
    await refused_with(403, clients("alice").store.get_item(namespace, grant["id"]))
    async with api_as(server, "bob") as http:
        assert (await http.delete(f"/signoff/grants/{grant['id']}")).status_code == 200
    # a user named "signoff" would get a root of their own, never signoff's
    assert root_of(Identity("signoff", frozenset())) == "%73ignoff"
    assert write_refusal("get", namespace) is None and write_refusal("put", ("me",)) is None


async def test_a_delegation_is_made_listed_and_revoked_through_the_api(server):
    async with api_as(server, "bob") as http:
        made = await http.post(
            "/signoff/delegations", json={"delegate": user_name("dave"), "ends_in": "7d"}
        )
    assert made.status_code == 201, made.text
    delegation = made.json()
    assert delegation["groups"] == ["managers", "support-leads", "users"]
    assert delegation["id"] in await listed(server, "dave", "/signoff/delegations")
    assert delegation["id"] not in await listed(server, "alice", "/signoff/delegations")
    async with api_as(server, "dave") as http:
        answer = await http.delete(f"/signoff/delegations/{delegation['id']}")
    assert answer.status_code == 403 and "only bob@signoff.local" in answer.json()["detail"]
    async with api_as(server, "erin") as http:
        answer = await http.delete(f"/signoff/delegations/{delegation['id']}")
    assert answer.status_code == 200 and answer.json()["revoked_by"] == user_name("erin")
    async with api_as(server, "alice") as http:
        answer = await http.post("/signoff/delegations", json={"delegate": user_name("alice")})
    assert answer.status_code == 422 and "may not delegate to themselves" in answer.text


async def test_a_one_use_grant_approves_exactly_one_of_two_concurrent_runs(flow, server):
    async with api_as(server, "erin") as http:  # only this test's grant covers these runs
        for live in (await http.get("/signoff/grants")).json():
            if live["rule"] == "approve_reject":
                await http.delete(f"/signoff/grants/{live['id']}")
    grant = (
        await grant_as(
            server,
            "dave",
            covers={"requester": user_name("alice")},
            constraints={"target": {"eq": "acct-9"}},
            single_use=True,
        )
    ).json()
    runs = [flow("approve_reject"), flow("approve_reject")]
    results = await asyncio.gather(*(run.start(PAYMENT) for run in runs))
    executed = [r for r in results if r.get("status") == "executed"]
    assert len(executed) == 1, results
    [entry] = [e for e in executed[0]["audit"] if e["decision"] == "approve"]
    assert entry["reviewer"] == user_name("dave")
    assert entry["grant"] == {"id": grant["id"], "granted_by": user_name("dave")}
    waiting = [run for run, result in zip(runs, results, strict=True) if result is not executed[0]]
    assert await waiting[0].status() == "interrupted"
    [left] = [g for g in await _grants(server, "dave") if g["id"] == grant["id"]]
    assert left["left"]["uses"] == 0


async def _grants(server, name: str) -> list[dict[str, Any]]:
    async with api_as(server, name) as http:
        return (await http.get("/signoff/grants", params={"all": "1"})).json()
