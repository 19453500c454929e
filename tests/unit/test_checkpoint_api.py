"""`signoff.checkpoints`: the LangGraph API signoff uses, served in process from a SQLite
checkpoint store, read by signoff's own readers (`pending_requests`, `answer_request`) as they
read a LangGraph server: the list, who sees what, the admission's refusals, an answer taken
once, a thread another process holds (409), and bodies over HTTP that never make a 500."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import NotFoundError
from starlette.applications import Starlette
from starlette.requests import Request

from signoff.checkpoints import CheckpointApi, as_sdk, langgraph_api_routes
from signoff.client.answering import Answered, Refused, answer_request
from signoff.client.pending_requests import every_pending_request
from signoff.databricks.checkpointer import checkpointer
from signoff.databricks.store import deployment_store
from signoff.execution.ledger import read_entries
from signoff.governance.identity import Identity, UnknownToken
from signoff.graphs import GRAPHS
from tests.dev_users import GROUPS, user_name
from tests.property_settings import EXAMPLES

PAYMENT = {"operation": {"kind": "payment", "amount": 5000, "target": "acct-9"}}


def person(name: str) -> Identity:
    """Development user `name` as the deployment's auth resolves them."""
    return Identity(user_name(name), frozenset(GROUPS[user_name(name)]))


ALICE, BOB, FRANK = person("alice"), person("bob"), person("frank")
"""alice raises requests (users), bob decides payments (managers), frank sees neither."""


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'checkpoints.sqlite'}"


@pytest.fixture
def api(database: str) -> Iterator[CheckpointApi]:
    with checkpointer(database) as saver, deployment_store(database) as store:
        api = CheckpointApi({"approve_reject": GRAPHS["approve_reject"]}, saver, store)
        api.setup()
        yield api
        api.close()


def values_of(answered: Answered) -> dict[str, Any]:
    """The thread's values once the answer's run ended."""
    return cast(dict[str, Any], answered.after["values"])


async def raise_payment(api: CheckpointApi) -> str:
    """A payment alice asks for, pausing for a manager's approval; its thread id."""
    thread_id = str(uuid.uuid4())
    paused = await api.client(ALICE).runs.wait(
        thread_id, "approve_reject", input=PAYMENT, if_not_exists="create"
    )
    assert paused["__interrupt__"][0]["value"]["stage"] == "review"
    return thread_id


async def test_the_pending_list_shows_each_request_to_who_may_see_it(api: CheckpointApi):
    thread_id = await raise_payment(api)

    [listed] = await every_pending_request(as_sdk(api.client(BOB)))
    assert (listed.thread_id, listed.graph, listed.assistant_id) == (
        thread_id,
        "approve_reject",
        "approve_reject",
    )
    assert listed.request["requested_by"] == ALICE.user
    assert [r.thread_id for r in await every_pending_request(as_sdk(api.client(ALICE)))] == [
        thread_id
    ]
    assert [
        r.thread_id for r in await every_pending_request(as_sdk(api.client(None, system=True)))
    ] == [thread_id]
    assert await every_pending_request(as_sdk(api.client(FRANK))) == []
    with pytest.raises(NotFoundError, match=f"There is no thread {thread_id} that {FRANK.user}"):
        await api.client(FRANK).threads.get_state(thread_id)
    record = await api.client(BOB).threads.get(thread_id)
    assert record["status"] == "interrupted"
    assert record["metadata"]["signoff_owner"] == ALICE.user


async def test_a_created_thread_is_its_creators_and_runs_like_a_new_one(api: CheckpointApi):
    alice = api.client(ALICE)
    created = await alice.threads.create(metadata={"ticket": "INV-7"}, graph_id="approve_reject")
    thread_id = created["thread_id"]
    assert created["metadata"]["signoff_owner"] == ALICE.user
    with pytest.raises(NotFoundError):
        await api.client(FRANK).threads.get(thread_id)
    with pytest.raises(Exception, match="already exists") as twice:
        await alice.threads.create(thread_id=thread_id)
    assert twice.value.response.status_code == 409  # type: ignore[attr-defined]

    paused = await alice.runs.wait(thread_id, "approve_reject", input=PAYMENT)

    assert paused["__interrupt__"][0]["value"]["requested_by"] == ALICE.user
    [listed] = await every_pending_request(as_sdk(api.client(BOB)))
    assert listed.thread_id == thread_id
    [found] = await api.client(BOB).threads.search(metadata={"ticket": "INV-7"})
    assert found["thread_id"] == thread_id


async def test_answers_pass_the_servers_admission(api: CheckpointApi):
    thread_id = await raise_payment(api)

    with pytest.raises(Refused, match="There is no thread") as hidden:
        await answer_request(as_sdk(api.client(FRANK)), thread_id, {"type": "approve"})
    assert hidden.value.status == 404
    with pytest.raises(Refused) as own:
        await answer_request(as_sdk(api.client(ALICE)), thread_id, {"type": "approve"})
    assert own.value.status == 403
    assert "managers" in str(own.value)
    with pytest.raises(Exception, match="takes no new input") as more_input:
        await api.client(BOB).runs.wait(thread_id, "approve_reject", input=PAYMENT)
    assert more_input.value.response.status_code == 409  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="Not signed in") as nobody:
        await api.client(None).threads.search(status="interrupted")
    assert nobody.value.response.status_code == 401  # type: ignore[attr-defined]
    assert [r.thread_id for r in await every_pending_request(as_sdk(api.client(BOB)))] == [
        thread_id
    ]


async def test_an_answer_runs_once(api: CheckpointApi):
    thread_id = await raise_payment(api)
    before = len(read_entries())

    answered = await answer_request(as_sdk(api.client(BOB)), thread_id, {"type": "approve"})

    assert values_of(answered)["status"] == "executed"
    assert [e for e in read_entries()[before:] if e["thread_id"] == thread_id] != []
    assert len(read_entries()) == before + 1
    with pytest.raises(Refused, match="waits for no decision") as again:
        await answer_request(as_sdk(api.client(BOB)), thread_id, {"type": "approve"})
    assert again.value.status == 409
    assert len(read_entries()) == before + 1
    assert await every_pending_request(as_sdk(api.client(BOB))) == []
    audit = values_of(answered)["audit"]
    assert [entry["reviewer"] for entry in audit if entry["decision"] == "approve"] == [BOB.user]


HOLDER = """
import sys, time
from pathlib import Path
from signoff.serving.lease import RangeLocks
locks = RangeLocks(Path(sys.argv[1]))
with locks.hold(sys.argv[2]):
    print("held", flush=True)
    sys.stdin.readline()
"""


async def test_a_thread_another_process_runs_is_busy(api: CheckpointApi, database: str):
    thread_id = await raise_payment(api)
    file = database.removeprefix("sqlite:///")
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, file, thread_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(Refused, match="being run by another replica") as busy:
            await answer_request(as_sdk(api.client(BOB)), thread_id, {"type": "approve"})
        assert busy.value.status == 409
        holder.stdin.write("\n")
        holder.stdin.flush()
    [still] = await every_pending_request(as_sdk(api.client(BOB)))
    assert still.thread_id == thread_id
    answered = await answer_request(as_sdk(api.client(BOB)), thread_id, {"type": "approve"})
    assert values_of(answered)["status"] == "executed"


PEOPLE = {"alice": ALICE, "bob": BOB, "frank": FRANK}


async def authenticate(request: Request) -> Identity:
    """The test deployment's sign-in: the bearer token is a development user's short name."""
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    if token not in PEOPLE:
        raise UnknownToken("no such development user")
    return PEOPLE[token]


def over_http(api: CheckpointApi, who: str) -> LangGraphClient:
    """The real SDK client, signed in as `who`, calling the routes over ASGI."""
    app = Starlette(routes=langgraph_api_routes(api, authenticate))
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {who}"}
    return LangGraphClient(
        httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers)
    )


async def test_the_sdk_lists_and_answers_over_http(api: CheckpointApi):
    thread_id = await raise_payment(api)
    async with over_http(api, "bob") as bob, over_http(api, "frank") as frank:
        [listed] = await every_pending_request(bob)
        assert (listed.thread_id, listed.graph) == (thread_id, "approve_reject")
        assert await every_pending_request(frank) == []
        with pytest.raises(Refused, match="There is no thread") as hidden:
            await answer_request(frank, thread_id, {"type": "approve"})
        assert hidden.value.status == 404

        answered = await answer_request(bob, thread_id, {"type": "approve"}, request_id=None)

        assert values_of(answered)["status"] == "executed"
        [latest, before] = await bob.threads.get_history(thread_id, limit=2)
        assert latest["next"] == [] and before["checkpoint"] == latest["parent_checkpoint"]
        with pytest.raises(Refused, match="waits for no decision"):
            await answer_request(bob, thread_id, {"type": "approve"})


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
SEARCH = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["interrupted", "idle", "busy", "nope"]) | JSON,
        "limit": st.integers(-2, 2000) | JSON,
        "offset": st.integers(-2, 5) | JSON,
        "select": st.lists(st.sampled_from(["thread_id", "metadata", "values", "x"])) | JSON,
        "sort_by": st.sampled_from(["created_at", "updated_at", "thread_id", "x"]) | JSON,
        "sort_order": st.sampled_from(["asc", "desc"]) | JSON,
        "metadata": JSON,
        "ids": JSON,
    },
)
RUN = st.fixed_dictionaries(
    {"assistant_id": st.sampled_from(["approve_reject", "nope"]) | JSON},
    optional={
        "input": JSON,
        "command": st.fixed_dictionaries({"resume": JSON}) | JSON,
        "config": JSON,
        "context": JSON,
        "metadata": JSON,
        "multitask_strategy": st.sampled_from(["reject", "interrupt"]) | JSON,
        "if_not_exists": JSON,
        "interrupt_before": JSON,
        "checkpoint_id": JSON,
    },
)
ANSWERED = {200, 401, 403, 404, 409, 422}
"""What a client's request may get: a result, or a refusal saying what would be allowed."""


def test_bodies_get_an_answer_never_a_server_error(api: CheckpointApi):
    thread_id = asyncio.run(raise_payment(api))
    app = Starlette(routes=langgraph_api_routes(api, authenticate))

    async def exchange(who: str, search: Any, run: Any, path: str) -> None:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {who}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=headers
        ) as http:
            searched = await http.post("/threads/search", json=search)
            assert searched.status_code in ANSWERED, searched.text
            if searched.status_code == 200:
                assert all(isinstance(t, dict) for t in searched.json())
            else:
                assert searched.json()["detail"]
            for call in ("runs/wait", "runs"):
                ran = await http.post(f"/threads/{path}/{call}", json=run)
                assert ran.status_code in ANSWERED, ran.text
                if ran.status_code != 200:
                    assert ran.json()["detail"]
            await api.join_runs()
            read = await http.get(f"/threads/{path}/state")
            assert read.status_code in ANSWERED, read.text

    @settings(
        max_examples=EXAMPLES.max_examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        who=st.sampled_from([*PEOPLE, "eve"]),
        search=SEARCH | JSON,
        run=RUN | JSON,
        path=st.sampled_from([thread_id, "no-such-thread"]),
    )
    def check(who: str, search: Any, run: Any, path: str) -> None:
        asyncio.run(exchange(who, search, run, path))

    check()
    [still] = asyncio.run(every_pending_request(as_sdk(api.client(BOB))))
    assert still.thread_id == thread_id
