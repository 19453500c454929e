"""`signoff.checkpoints`: the LangGraph API signoff uses, served in process from a SQLite
checkpoint store, read by signoff's own readers (`pending_requests`, `answer_request`) as they
read a LangGraph server: the list, who sees what, the admission's refusals, an answer taken
once, a thread another process holds (409), and bodies over HTTP that never make a 500."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import empty_checkpoint
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import NotFoundError
from starlette.applications import Starlette
from starlette.requests import Request

from signoff.checkpoints import CheckpointApi, as_sdk, langgraph_api_routes
from signoff.checkpoints.api import _run_config
from signoff.checkpoints.records import RESERVED_KEYS
from signoff.client.answering import Answered, Refused, answer_request
from signoff.client.pending_requests import decisions_since, every_pending_request
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


ERIN = person("erin")
"""An admin (signoff-admins)."""

RESERVED = sorted(RESERVED_KEYS) + ["langgraph_node", "__pregel_x", "ticket", "note"]
METADATA = st.dictionaries(st.sampled_from(RESERVED) | st.text(max_size=8), JSON, max_size=4)


def status_of(error: httpx.HTTPStatusError) -> int:
    return error.response.status_code


async def system_reads(api: CheckpointApi) -> list[str]:
    """What the deployment's readers read of every thread: the pending list, today's
    decisions, a search with values; the pending thread ids."""
    system = as_sdk(api.client(None, system=True))
    await decisions_since(system, datetime(2000, 1, 1, tzinfo=UTC))
    found = await system.threads.search(limit=1000, select=["thread_id", "values", "metadata"])
    assert all(isinstance(thread["metadata"], dict) for thread in found)
    return [request.thread_id for request in await every_pending_request(system)]


def test_no_metadata_a_user_sends_breaks_a_later_list(api: CheckpointApi):
    thread_id = asyncio.run(raise_payment(api))

    async def send(thread_metadata: Any, run_metadata: Any) -> None:
        alice = api.client(ALICE)
        for attempt in (
            alice.threads.create(metadata=thread_metadata, graph_id="approve_reject"),
            alice.runs.wait(
                str(uuid.uuid4()),
                "approve_reject",
                input={"operation": {"kind": "refund", "amount": 5}},
                metadata=run_metadata,
                if_not_exists="create",
            ),
        ):
            try:
                await attempt
            except httpx.HTTPStatusError as refused:
                assert status_of(refused) == 422, refused
                assert "send any other keys" in refused.response.json()["detail"].lower()
        assert thread_id in await system_reads(api)

    @settings(
        max_examples=EXAMPLES.max_examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(thread_metadata=METADATA, run_metadata=METADATA)
    def check(thread_metadata: Any, run_metadata: Any) -> None:
        asyncio.run(send(thread_metadata, run_metadata))

    check()


async def test_keys_langgraph_or_the_server_set_are_refused_naming_them(api: CheckpointApi):
    alice = api.client(ALICE)
    with pytest.raises(httpx.HTTPStatusError) as created:
        await alice.threads.create(metadata={"graph_id": "approve_reject", "parents": 5})
    assert status_of(created.value) == 422
    assert "sets graph_id, parents, which only LangGraph or the server sets" in str(created.value)
    with pytest.raises(httpx.HTTPStatusError) as ran:
        await alice.runs.wait(
            str(uuid.uuid4()),
            "approve_reject",
            input=PAYMENT,
            metadata={"step": "x", "__pregel_y": 1, "ticket": "INV-1"},
            if_not_exists="create",
        )
    assert status_of(ran.value) == 422
    assert "The run metadata sets __pregel_y, step" in str(ran.value)
    created_ok = await alice.threads.create(metadata={"ticket": "INV-1"})
    assert created_ok["metadata"]["ticket"] == "INV-1"


async def test_a_thread_no_reader_can_read_is_skipped_not_failing_the_lists(
    api: CheckpointApi, caplog: pytest.LogCaptureFixture
):
    thread_id = await raise_payment(api)
    broken = str(uuid.uuid4())  # stored before metadata was checked, or by a bug
    config = RunnableConfig(configurable={"thread_id": broken, "checkpoint_ns": ""})
    metadata = cast(
        Any, {"source": "input", "step": "x", "parents": 5, "graph_id": "approve_reject"}
    )
    api.saver.put(config, empty_checkpoint(), metadata, {})
    with pytest.raises(TypeError):  # LangGraph itself cannot read it
        api.graph("approve_reject").get_state(  # type: ignore[union-attr]
            RunnableConfig(configurable={"thread_id": broken})
        )

    assert await system_reads(api) == [thread_id]

    found = await api.client(None, system=True).threads.search(ids=[broken], select=["values"])
    assert found == [{"values": None}]
    assert f"Sending thread {broken} without values" in caplog.text


async def test_a_later_page_withholds_values_from_who_no_longer_sees_the_thread(
    api: CheckpointApi,
):
    dave = api.client(person("dave"))  # a manager: sees payments while they wait for managers
    older = await raise_payment(api)
    newer = await raise_payment(api)
    fields = ["thread_id", "values"]
    [first] = await dave.threads.search(limit=1, select=fields)
    assert first["thread_id"] == newer

    await answer_request(as_sdk(api.client(BOB)), older, {"type": "approve"})

    [second] = await dave.threads.search(limit=1, offset=1, select=fields)
    assert second == {"thread_id": older, "values": None}  # decided by bob: not dave's now
    [bobs] = await api.client(BOB).threads.search(ids=[older], select=fields)
    assert bobs["values"]["status"] == "executed"


async def test_a_thread_that_ran_without_recording_its_graph_is_refused_where_several_are_served(
    api: CheckpointApi,
):
    graph = api.graph("approve_reject")
    assert graph is not None
    thread_id = str(uuid.uuid4())  # paused by a Model Serving agent before it recorded graphs
    graph.invoke(
        {**PAYMENT, "requested_by": ALICE.user},
        RunnableConfig(configurable={"thread_id": thread_id, "langgraph_auth_user_id": ALICE.user}),
    )
    several = CheckpointApi(
        {name: GRAPHS[name] for name in ("approve_reject", "multi_stage_approval")},
        api.saver,
        api.store,
    )
    try:
        with pytest.raises(Refused) as refused:
            await answer_request(as_sdk(several.client(BOB)), thread_id, {"type": "approve"})
        assert refused.value.status == 409
        assert "records no graph" in str(refused.value)
        assert "approve_reject, multi_stage_approval" in str(refused.value)
        with pytest.raises(httpx.HTTPStatusError) as other:
            await several.client(ERIN).runs.wait(thread_id, "multi_stage_approval")
        assert status_of(other.value) == 409
    finally:
        several.close()

    answered = await answer_request(as_sdk(api.client(BOB)), thread_id, {"type": "approve"})
    assert values_of(answered)["status"] == "executed"


async def test_configurable_is_for_admins_and_never_carries_langgraphs_keys(api: CheckpointApi):
    thread_id = await raise_payment(api)
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await api.client(BOB).runs.wait(
            thread_id,
            "approve_reject",
            command={"resume": {"type": "approve"}},
            config={"configurable": {"threshold": 1}},
        )
    assert status_of(refused.value) == 403
    assert "config.configurable" in str(refused.value) and "admins only" in str(refused.value)

    run = {"config": {"configurable": {"__pregel_send": "x", "model": "m", "thread_id": "other"}}}
    config = _run_config(thread_id, "approve_reject", "approve_reject", ERIN, None, run)
    configurable = config.get("configurable") or {}
    assert configurable["model"] == "m" and configurable["thread_id"] == thread_id
    assert not [key for key in configurable if key.startswith("__")]
    [still] = await every_pending_request(as_sdk(api.client(BOB)))
    assert still.thread_id == thread_id


def test_bodies_are_bounded_and_never_a_server_error(api: CheckpointApi):
    thread_id = asyncio.run(raise_payment(api))
    app = Starlette(routes=langgraph_api_routes(api, authenticate))
    paths = ["/threads", "/threads/search", f"/threads/{thread_id}/history"]
    paths += [f"/threads/{thread_id}/runs/wait"]

    async def post(path: str, body: bytes) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": "Bearer bob", "Content-Type": "application/json"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=headers
        ) as http:
            return await http.post(path, content=body)

    async def fixed() -> None:
        large = await post("/threads/search", b'{"metadata": {"x": "' + b"a" * 2**20 + b'"}}')
        assert large.status_code == 413 and "at most 1048576" in large.json()["detail"]
        deep = await post("/threads/search", b'{"metadata": ' + b"[" * 100_000 + b"]" * 100_000)
        assert deep.status_code == 422 and "nested too deep" in deep.json()["detail"]
        filter_deep = await post("/threads/search", b'{"metadata": ' + b"[" * 40 + b"]" * 40 + b"}")
        assert filter_deep.status_code == 422 and "metadata filter" in filter_deep.json()["detail"]
        ids = json.dumps({"ids": [str(i) for i in range(1001)]}).encode()
        many = await post("/threads/search", ids)
        assert many.status_code == 422 and "at most 1000 thread ids" in many.json()["detail"]
        history = await post(f"/threads/{thread_id}/history", b'{"limit": 1001}')
        assert history.status_code == 422 and "from 1 to 1000" in history.json()["detail"]

    asyncio.run(fixed())

    nested = st.integers(0, 3000).flatmap(
        lambda depth: st.sampled_from(["[", '{"a":']).map(lambda opening: opening * depth)
    )
    bodies = (
        nested.map(str.encode)
        | st.binary(max_size=64)
        | st.tuples(st.sampled_from(["metadata", "ids", "limit", "before", "input"]), nested).map(
            lambda pair: f'{{"{pair[0]}": {pair[1]}1'.encode()
        )
    )

    @settings(
        max_examples=EXAMPLES.max_examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(path=st.sampled_from(paths), body=bodies)
    def check(path: str, body: bytes) -> None:
        answer = asyncio.run(post(path, body))
        assert answer.status_code in ANSWERED | {413}, answer.text
        if answer.status_code != 200:
            assert answer.json()["detail"]

    check()
    [still] = asyncio.run(every_pending_request(as_sdk(api.client(BOB))))
    assert still.thread_id == thread_id
