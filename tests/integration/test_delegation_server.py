"""Delegation through the real server: "While bob is away, dave decides the refunds bob would
decide."

bob (support-leads) delegates to dave (managers, security) through the API. Until it is
revoked, dave sees the refund alice's agent asks for and approves it on bob's behalf: the
audit entry names dave as the reviewer and bob in `on_behalf_of`. Once bob revokes it, dave
neither sees nor decides the next one.
"""

from __future__ import annotations

from tests.dev_users import user_name
from tests.integration.test_authorization import refused_with
from tests.integration.test_review_tool_calls import REFUND, tool_results, user
from tests.integration.test_standing_api import api_as


async def delegate(server, delegator: str, delegate_to: str) -> dict:
    async with api_as(server, delegator) as http:
        made = await http.post(
            "/signoff/delegations", json={"delegate": user_name(delegate_to), "ends_in": "1h"}
        )
    assert made.status_code == 201, made.text
    return made.json()


async def revoke(server, delegator: str, delegation: dict) -> None:
    async with api_as(server, delegator) as http:
        answer = await http.delete(f"/signoff/delegations/{delegation['id']}")
    assert answer.status_code == 200, answer.text


async def test_dave_decides_the_refunds_bob_would_decide_while_bob_is_away(flow, server, clients):
    delegation = await delegate(server, "bob", "dave")
    try:
        run = flow("review_tool_calls")
        await run.start(user(f"refund 25 on order 17 because damaged {run.tag}"))
        request = await run.request()
        assert request["decided_by"] == ["support-leads"]  # dave is not one of them
        assert (await clients("dave").threads.get(run.thread_id))["thread_id"] == run.thread_id

        result = await run.resume({"decisions": [{"type": "approve"}]}, as_user="dave")
        [entry] = result["audit"]
        assert entry["reviewer"] == user_name("dave")
        assert entry["on_behalf_of"] == user_name("bob")
        assert entry["groups"] == ["support-leads"]
        assert "Refund R-" in tool_results(result)[REFUND]["content"]
        assert len(run.refunds()) == 1
    finally:
        await revoke(server, "bob", delegation)

    after = flow("review_tool_calls")
    await after.start(user(f"refund 25 on order 18 because damaged {after.tag}"))
    detail = await refused_with(404, after.resume({"decisions": [{"type": "approve"}]}, "dave"))
    assert "may see" in detail
    assert after.refunds() == []


async def test_delegation_never_lets_anyone_decide_their_own_request(flow, server):
    delegation = await delegate(server, "bob", "alice")  # alice raises the refund herself
    try:
        run = flow("review_tool_calls")
        await run.start(user(f"refund 25 on order 19 because damaged {run.tag}"))
        detail = await refused_with(403, run.resume({"decisions": [{"type": "approve"}]}, "alice"))
        assert "raised this request" in detail
        assert run.refunds() == []
    finally:
        await revoke(server, "bob", delegation)
