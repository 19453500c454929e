"""The local Databricks workspace emulator, driven over HTTP by the real clients (no mocks).

databricks-sdk's `WorkspaceClient`, databricks-ai-bridge's `Genie`, databricks-langchain's
`ChatDatabricks` and `UCFunctionToolkit` (unitycatalog-ai, local execution) all talk to one
emulator served on a free loopback port for the whole module.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import astuple
from datetime import UTC, date, datetime, timedelta

import httpx
import openai
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import (
    InvalidParameterValue,
    NotFound,
    PermissionDenied,
    ResourceDoesNotExist,
    Unauthenticated,
)
from databricks.sdk.service.jobs import RunLifeCycleState, RunResultState
from databricks_ai_bridge.genie import Genie
from databricks_langchain import ChatDatabricks, UCFunctionToolkit
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from unitycatalog.ai.core.databricks import DatabricksFunctionClient

from emulator import (
    MODEL_NAME,
    SIGNOFF_TOOLS,
    DevModelTools,
    EmulatorSettings,
    RunningEmulator,
    respond,
    start_emulator,
)
from emulator.genie import SPACE_ID
from emulator.identity import USER_NAME, WORKSPACE_ID
from signoff.tools.databricks_jobs import (
    poll_databricks_job,
    start_databricks_job,
    terminate_databricks_job,
)
from signoff.tools.genie import query_genie
from signoff.tools.unity_catalog import with_idempotency_key

PENDING_SECONDS = 5
RUNNING_SECONDS = 30
TOOL_NAMES = (
    "start_databricks_job",
    "poll_databricks_job",
    "terminate_databricks_job",
    "main__support__lookup_order",
    "main__support__issue_refund",
    "query_genie",
)
REFUND_17 = ("main__support__issue_refund", {"order_id": 17, "amount": 25.0, "reason": "damaged"})


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    # Genie's client traces with MLflow, which creates its store in the working directory.
    with pytest.MonkeyPatch.context() as patch:
        mlflow_dir = tmp_path_factory.mktemp("mlflow")
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{mlflow_dir}/mlflow.db")
        settings = EmulatorSettings(
            pending_seconds=PENDING_SECONDS, running_seconds=RUNNING_SECONDS
        )
        with start_emulator(settings) as running:
            yield running


@pytest.fixture(scope="module")
def w(emulator: RunningEmulator) -> WorkspaceClient:
    return WorkspaceClient(host=emulator.url, token=emulator.token, auth_type="pat")


@pytest.fixture(scope="module")
def uc_tools(w: WorkspaceClient) -> dict[str, object]:
    client = DatabricksFunctionClient(client=w, execution_mode="local")
    names = ["main.support.lookup_order", "main.support.issue_refund"]
    toolkit = UCFunctionToolkit(function_names=names, client=client)
    return {tool.name: tool for tool in toolkit.tools}


@pytest.fixture(scope="module")
def llm(w: WorkspaceClient) -> ChatDatabricks:
    return ChatDatabricks(endpoint="signoff-dev-model", workspace_client=w)


def advance(emulator: RunningEmulator, seconds: float) -> None:
    httpx.post(
        f"{emulator.url}/emulator/clock/advance", json={"seconds": seconds}
    ).raise_for_status()


def orders(emulator: RunningEmulator) -> list[sqlite3.Row]:
    with closing(sqlite3.connect(emulator.emulator.dataset.path)) as connection:
        connection.row_factory = sqlite3.Row
        return connection.execute("SELECT * FROM orders").fetchall()


def tool_specs(*names: str) -> list[dict[str, object]]:
    return [
        {
            "type": "function",
            "function": {"name": name, "description": name, "parameters": {"type": "object"}},
        }
        for name in names
    ]


# Workspace identity


def test_host_metadata_and_current_user(w: WorkspaceClient) -> None:
    assert w.config.workspace_id == WORKSPACE_ID
    me = w.current_user.me()
    assert me.user_name == USER_NAME == me.emails[0].value
    assert me.active and me.display_name and me.id


def test_requests_without_a_bearer_token_are_unauthenticated(emulator: RunningEmulator) -> None:
    basic = WorkspaceClient(host=emulator.url, username="dev", password="pw", auth_type="basic")
    with pytest.raises(Unauthenticated):
        basic.current_user.me()
    response = httpx.get(f"{emulator.url}/api/2.2/jobs/list")
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"


def test_unknown_routes_are_endpoint_not_found(emulator: RunningEmulator, w: WorkspaceClient):
    with pytest.raises(NotFound) as raised:
        w.api_client.do("GET", "/api/2.0/no-such-api")
    assert raised.value.error_code == "ENDPOINT_NOT_FOUND"
    response = httpx.delete(
        f"{emulator.url}/api/2.2/jobs/get", headers={"Authorization": "Bearer x"}
    )
    assert response.status_code == 404
    assert response.json() == {
        "error_code": "ENDPOINT_NOT_FOUND",
        "message": "No API found for 'DELETE /api/2.2/jobs/get'",
    }


# Jobs


def test_jobs_get_and_list(w: WorkspaceClient) -> None:
    nightly = w.jobs.get(101)
    assert nightly.settings.name == "nightly_etl"
    assert "nightly job" in nightly.settings.description
    assert nightly.settings.tags["alias"] == "the nightly job"
    assert {p.name: p.default for p in nightly.settings.parameters}["user_request"] == ""
    assert {job.job_id: job.settings.name for job in w.jobs.list()} == {
        101: "nightly_etl",
        102: "weekly_report",
        13: "payroll_export",
    }
    assert [job.job_id for job in w.jobs.list(name="WEEKLY_REPORT")] == [102]


def test_run_goes_pending_running_terminated_on_the_clock(emulator, w: WorkspaceClient):
    started = w.jobs.run_now(101, job_parameters={"user_request": "reload march"})
    assert started.response.run_id == started.response.number_in_job >= 1001
    run = w.jobs.get_run(started.run_id)
    assert run.state.life_cycle_state == RunLifeCycleState.PENDING
    assert run.state.result_state is None
    assert run.run_page_url == f"{emulator.url}/#job/101/run/{run.run_id}"
    assert run.run_name == "nightly_etl" and run.job_id == 101 and run.start_time > 0

    advance(emulator, PENDING_SECONDS)
    assert w.jobs.get_run(run.run_id).state.life_cycle_state == RunLifeCycleState.RUNNING

    advance(emulator, RUNNING_SECONDS)
    done = w.jobs.get_run(run.run_id)
    assert done.state.life_cycle_state == RunLifeCycleState.TERMINATED
    assert done.state.result_state == RunResultState.SUCCESS
    assert done.status.termination_details.code.value == "SUCCESS"
    assert done.end_time >= done.start_time + (PENDING_SECONDS + RUNNING_SECONDS) * 1000


def test_job_parameters_arrive_as_sent(w: WorkspaceClient) -> None:
    sent = {"user_request": "reload march", "mode": "full", "region": "emea"}
    run = w.jobs.get_run(w.jobs.run_now(101, job_parameters=sent).run_id)
    assert {p.name: p.value for p in run.job_parameters} == sent
    assert {p.name: p.default for p in run.job_parameters}["mode"] == "incremental"


def test_same_idempotency_token_returns_the_same_run(w: WorkspaceClient) -> None:
    first = w.jobs.run_now(102, idempotency_token="token-a").run_id
    again = w.jobs.run_now(102, idempotency_token="token-a").run_id
    assert again == first
    assert [run.run_id for run in w.jobs.list_runs(job_id=102)] == [first]
    other = w.jobs.run_now(102, idempotency_token="token-b").run_id
    assert [run.run_id for run in w.jobs.list_runs(job_id=102)] == [other, first]


def test_list_runs_filters_active_and_completed(emulator, w: WorkspaceClient) -> None:
    older = w.jobs.run_now(101).run_id
    advance(emulator, PENDING_SECONDS + RUNNING_SECONDS)
    newer = w.jobs.run_now(101).run_id
    listed = [run.run_id for run in w.jobs.list_runs(job_id=101, limit=2)]  # pages of two
    assert listed[:2] == [newer, older] and listed == sorted(listed, reverse=True)
    active = {run.run_id for run in w.jobs.list_runs(job_id=101, active_only=True)}
    completed = {run.run_id for run in w.jobs.list_runs(job_id=101, completed_only=True)}
    assert newer in active and older not in active
    assert older in completed and newer not in completed


def test_cancel_an_active_run(w: WorkspaceClient) -> None:
    run_id = w.jobs.run_now(101).run_id
    w.jobs.cancel_run(run_id)
    state = w.jobs.get_run(run_id).state
    assert state.life_cycle_state == RunLifeCycleState.TERMINATED
    assert state.result_state == RunResultState.CANCELED
    assert state.state_message == f"Run cancelled by {USER_NAME}."


def test_cancelling_a_finished_run_changes_nothing(emulator, w: WorkspaceClient) -> None:
    run_id = w.jobs.run_now(101).run_id
    advance(emulator, PENDING_SECONDS + RUNNING_SECONDS)
    w.jobs.cancel_run(run_id)
    assert w.jobs.get_run(run_id).state.result_state == RunResultState.SUCCESS


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda w: w.jobs.get(999), ResourceDoesNotExist, "Job 999 does not exist."),
        (lambda w: w.jobs.run_now(999), InvalidParameterValue, "Job 999 does not exist."),
        (lambda w: w.jobs.get_run(123), ResourceDoesNotExist, "Run 123 does not exist."),
        (lambda w: w.jobs.cancel_run(123), InvalidParameterValue, "Run 123 does not exist."),
        (
            lambda w: w.jobs.run_now(13),
            PermissionDenied,
            f"User {USER_NAME} does not have Manage Run permissions on job 13.",
        ),
    ],
    ids=["get-unknown-job", "run-unknown-job", "get-missing-run", "cancel-missing-run", "no-perm"],
)
def test_jobs_errors_are_typed(w: WorkspaceClient, call, error, message) -> None:
    with pytest.raises(error) as raised:
        call(w)
    assert str(raised.value).startswith(message)  # the SDK may append its config


# Genie


def recent(emulator: RunningEmulator) -> list[sqlite3.Row]:
    week_ago = datetime.now(UTC).date() - timedelta(days=7)
    return [row for row in orders(emulator) if date.fromisoformat(row["order_date"]) > week_ago]


def test_genie_answers_with_text_sql_and_table(emulator, w: WorkspaceClient) -> None:
    count = len(recent(emulator))
    answer = Genie(SPACE_ID, client=w).ask_question("How many orders last week?")
    assert answer.text_attachment_content == f"{count} orders in the last 7 days."
    assert answer.query.startswith("SELECT COUNT(*) AS order_count FROM orders WHERE")
    assert answer.result.splitlines()[0].split("|")[2].strip() == "order_count"
    assert answer.result.splitlines()[2].split("|")[2].strip() == str(count)
    assert answer.conversation_id


def test_genie_numbers_match_the_dataset(emulator, w: WorkspaceClient) -> None:
    genie = Genie(SPACE_ID, client=w, return_pandas=True)
    revenue = genie.ask_question("What was the total revenue last week?").result
    expected = sum(row["amount"] for row in recent(emulator) if row["status"] != "cancelled")
    assert revenue["revenue"][0] == pytest.approx(expected)

    by_status = genie.ask_question("orders by status").result
    statuses = [row["status"] for row in orders(emulator)]
    assert dict(zip(by_status["status"], by_status["orders"], strict=True)) == {
        status: statuses.count(status) for status in set(statuses)
    }

    listed = genie.ask_question("show the orders from last week").result
    assert sorted(listed["order_id"]) == sorted(row["order_id"] for row in recent(emulator))


def test_genie_follow_up_and_unknown_question(w: WorkspaceClient) -> None:
    genie = Genie(SPACE_ID, client=w)
    first = genie.ask_question("who are the top customers?")
    assert first.text_attachment_content.startswith("The top customer is ")
    follow_up = genie.ask_question("what is the meaning of life", first.conversation_id)
    assert follow_up.conversation_id == first.conversation_id
    assert follow_up.query == ""
    assert "only answer a few fixed questions" in follow_up.result
    assert "How many orders last week?" in follow_up.suggested_questions


def test_genie_through_the_sdk(emulator: RunningEmulator, w: WorkspaceClient) -> None:
    assert w.genie.get_space(SPACE_ID).title == "Orders"
    message = w.genie.start_conversation_and_wait(SPACE_ID, "orders by status")
    assert message.status.value == "COMPLETED"
    [query] = [attachment for attachment in message.attachments if attachment.query]
    result = w.genie.get_message_attachment_query_result(
        SPACE_ID, message.conversation_id, message.message_id, query.attachment_id
    ).statement_response
    assert result.status.state.value == "SUCCEEDED"
    assert [column.name for column in result.manifest.schema.columns] == ["status", "orders"]
    assert sum(int(row[1]) for row in result.result.data_array) == len(orders(emulator))
    with pytest.raises(ResourceDoesNotExist):
        w.genie.get_space("no-such-space")


# Unity Catalog functions


def test_function_metadata(emulator: RunningEmulator, w: WorkspaceClient) -> None:
    info = w.functions.get("main.support.issue_refund")
    assert info.full_name == "main.support.issue_refund"
    assert info.routine_body.value == "EXTERNAL" and info.external_language == "PYTHON"
    assert info.data_type.value == "STRING" and info.full_data_type == "STRING"
    params = info.input_params.parameters
    assert [(p.name, p.type_name.value) for p in params] == [
        ("order_id", "INT"),
        ("amount", "DOUBLE"),
        ("reason", "STRING"),
        ("idempotency_key", "STRING"),
    ]
    assert str(emulator.emulator.dataset.path) in info.routine_definition
    with pytest.raises(NotFound):
        w.functions.get("main.support.no_such_function")


def test_lookup_order_runs_locally(emulator: RunningEmulator, uc_tools) -> None:
    row = next(row for row in orders(emulator) if row["order_id"] == 17)
    result = json.loads(uc_tools["main__support__lookup_order"].invoke({"order_id": 17}))
    assert result["format"] == "SCALAR"
    assert result["value"].startswith(f"Order 17: {row['customer']}, {row['amount']:.2f}")


def test_issue_refund_writes_a_row_genie_sees(emulator, w: WorkspaceClient, uc_tools) -> None:
    refund = uc_tools["main__support__issue_refund"]
    result = json.loads(refund.invoke({"order_id": 17, "amount": 25, "reason": "damaged"}))
    assert result["value"] == "Refund R-2 of 25.00 issued for order 17 (damaged)."
    refunds = Genie(SPACE_ID, client=w, return_pandas=True).ask_question("list the refunds")
    assert list(refunds.result["order_id"]) == [4, 17]
    assert "2 refunds" in refunds.text_attachment_content
    state = httpx.get(f"{emulator.url}/emulator/state").json()
    assert state["refunds"][-1]["reason"] == "damaged"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"order_id": 999, "amount": 5.0, "reason": "x"}, "Order 999 does not exist."),
        ({"order_id": 3, "amount": 0.0, "reason": "x"}, "must be positive"),
        ({"order_id": 3, "amount": 10000.0, "reason": "x"}, "still refundable on order 3"),
    ],
)
def test_issue_refund_refuses_bad_requests(uc_tools, arguments, message) -> None:
    result = json.loads(uc_tools["main__support__issue_refund"].invoke(arguments))
    assert message in result["error"]


# Chat completions (the rule-based development model)


def test_chat_invoke_names_the_development_model(llm: ChatDatabricks) -> None:
    reply = llm.invoke("hello")
    assert "rule-based development model" in reply.content
    assert reply.response_metadata["model_name"] == MODEL_NAME
    assert reply.usage_metadata["total_tokens"] > 0


@pytest.mark.parametrize(
    ("prompt", "calls"),
    [
        (
            "Start the nightly job for the March close.",
            [
                (
                    "start_databricks_job",
                    {"user_request": "Start the nightly job for the March close"},
                )
            ],
        ),
        (
            "run the nightly job with mode=full date=2024-06-01",
            [
                (
                    "start_databricks_job",
                    {
                        "user_request": "run the nightly job with mode=full date=2024-06-01",
                        "parameters": {"mode": "full", "date": "2024-06-01"},
                    },
                )
            ],
        ),
        ("what is the status of run 1001?", [("poll_databricks_job", {"run_id": 1001})]),
        ("cancel run 42", [("terminate_databricks_job", {"run_id": 42})]),
        ("look up order 17", [("main__support__lookup_order", {"order_id": 17})]),
        (
            "refund 25 on order 17 because damaged",
            [REFUND_17],
        ),
        (
            "refund order 17 for 25 (damaged)",
            [REFUND_17],
        ),
        ("how many orders last week", [("query_genie", {"question": "how many orders last week"})]),
        (
            "please show orders by status",
            [("query_genie", {"question": "please show orders by status"})],
        ),
        (
            "start the nightly job and check run 42",
            [
                ("start_databricks_job", {"user_request": "start the nightly job"}),
                ("poll_databricks_job", {"run_id": 42}),
            ],
        ),
    ],
)
def test_bound_tools_are_called_by_rule(llm: ChatDatabricks, prompt, calls) -> None:
    reply = llm.bind_tools(tool_specs(*TOOL_NAMES)).invoke(prompt)
    assert [(call["name"], call["args"]) for call in reply.tool_calls] == calls
    assert len({call["id"] for call in reply.tool_calls}) == len(calls)
    assert reply.response_metadata["finish_reason"] == "tool_calls"


def test_a_tool_not_offered_is_not_called(llm: ChatDatabricks) -> None:
    reply = llm.bind_tools(tool_specs("query_genie")).invoke("cancel run 42")
    assert reply.tool_calls == []
    assert "no `terminate_databricks_job` tool is available" in reply.content


def test_unmatched_request_gets_help(llm: ChatDatabricks) -> None:
    reply = llm.bind_tools(tool_specs(*TOOL_NAMES)).invoke("sing me a song")
    assert reply.tool_calls == [] and "I understand:" in reply.content


def answer_to(llm: ChatDatabricks, name: str, args: dict[str, object], result: str) -> str:
    call = {"name": name, "args": args, "id": "call_1", "type": "tool_call"}
    conversation = [
        HumanMessage("do it"),
        AIMessage(content="", tool_calls=[call]),
        ToolMessage(result, tool_call_id="call_1"),
    ]
    return llm.bind_tools(tool_specs(*TOOL_NAMES)).invoke(conversation).content


@pytest.mark.parametrize(
    ("name", "args", "result", "answer"),
    [
        (
            "start_databricks_job",
            {"user_request": "start the nightly job"},
            "Started run 1001 of job 101 (PENDING): http://h/#job/101/run/1001",
            "Started run 1001 of the nightly job: http://h/#job/101/run/1001. "
            "Ask me for its status any time.",
        ),
        (
            "main__support__issue_refund",
            {"order_id": 17, "amount": 25.0, "reason": "damaged"},
            '{"format": "SCALAR", "value": "Refund R-2 of 25.00 issued for order 17 (damaged)."}',
            "Refund R-2 of 25.00 issued for order 17 (damaged).",
        ),
        (
            "main__support__issue_refund",
            {"order_id": 999, "amount": 5.0, "reason": "x"},
            json.dumps({"error": "Traceback ...\nValueError: Order 999 does not exist.\n"}),
            "I tried to refund 5.0 on order 999, but it failed: "
            "ValueError: Order 999 does not exist.",
        ),
        (
            "start_databricks_job",
            {"user_request": "start the nightly job"},
            "ToolException: Could not start job 13: permission denied.",
            "I tried to start the nightly job, but it failed: "
            "ToolException: Could not start job 13: permission denied.",
        ),
        (
            "terminate_databricks_job",
            {"run_id": 42},
            "A reviewer rejected this call: let it finish",
            "I did not cancel run 42: A reviewer rejected this call: let it finish",
        ),
    ],
    ids=["started", "uc-value", "uc-error", "tool-error", "rejected"],
)
def test_tool_results_become_a_final_answer(llm: ChatDatabricks, name, args, result, answer):
    assert answer_to(llm, name, args, result) == answer


def test_streaming_text_arrives_in_several_chunks(llm: ChatDatabricks) -> None:
    chunks = list(llm.stream("hello"))
    assert all(isinstance(chunk, AIMessageChunk) for chunk in chunks)
    assert len([chunk for chunk in chunks if chunk.content]) >= 3
    assert "".join(chunk.content for chunk in chunks) == llm.invoke("hello").content


def test_streaming_tool_calls_reassemble(llm: ChatDatabricks) -> None:
    bound = llm.bind_tools(tool_specs(*TOOL_NAMES))
    chunks = list(bound.stream("refund 25 on order 17 because damaged and look up order 17"))
    assert len(chunks) > 4
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert [(call["name"], call["args"]) for call in merged.tool_calls] == [
        REFUND_17,
        ("main__support__lookup_order", {"order_id": 17}),
    ]
    assert all(call["id"].startswith("call_") for call in merged.tool_calls)


async def test_chat_from_async_code(llm: ChatDatabricks) -> None:
    bound = llm.bind_tools(tool_specs("query_genie"))
    reply = await bound.ainvoke("how many orders last week")
    assert reply.tool_calls[0]["args"] == {"question": "how many orders last week"}
    chunks = [chunk async for chunk in llm.astream("hello")]
    assert len([chunk for chunk in chunks if chunk.content]) >= 3


def test_unknown_serving_endpoint(w: WorkspaceClient) -> None:
    with pytest.raises(openai.NotFoundError):
        ChatDatabricks(endpoint="no-such-model", workspace_client=w).invoke("hello")


def test_responder_is_a_pure_function() -> None:
    tools = tool_specs("poll_databricks_job")
    reply = respond([{"role": "user", "content": "status of run 7"}], tools)
    assert reply["content"] is None
    [call] = reply["tool_calls"]
    assert call["function"] == {"name": "poll_databricks_job", "arguments": '{"run_id": 7}'}
    assert respond([{"role": "system", "content": "hi"}], tools)["content"].startswith("I am")


def test_the_development_model_calls_the_tools_signoffs_graphs_offer(uc_tools) -> None:
    product = [start_databricks_job, poll_databricks_job, terminate_databricks_job, query_genie]
    assert set(astuple(SIGNOFF_TOOLS)) == {tool.name for tool in product} | set(uc_tools)
    assert set(astuple(SIGNOFF_TOOLS)) == set(TOOL_NAMES)


def test_the_tool_names_the_development_model_calls_are_a_setting(tmp_path) -> None:
    names = DevModelTools(poll_job="check_run", start_job="kick_off")
    request = {
        "model": "signoff-dev-model",
        "messages": [{"role": "user", "content": "status of run 7 and start the nightly job"}],
        "tools": tool_specs("check_run", *TOOL_NAMES),
    }
    with start_emulator(EmulatorSettings(dev_model_tools=names, data_dir=tmp_path)) as other:
        reply = httpx.post(
            f"{other.url}/serving-endpoints/chat/completions",
            json=request,
            headers={"Authorization": f"Bearer {other.token}"},
        ).json()["choices"][0]["message"]
    assert [call["function"]["name"] for call in reply["tool_calls"]] == ["check_run"]
    assert reply["content"] == (
        "I would start the nightly job, but no `kick_off` tool is available here."
    )


# Database (Lakebase)


def test_database_instance_and_credentials(emulator: RunningEmulator, w: WorkspaceClient):
    instance = w.database.get_database_instance("signoff-lakebase")
    assert instance.state.value == "AVAILABLE" and instance.read_write_dns == "127.0.0.1"
    with pytest.raises(ResourceDoesNotExist):
        w.database.get_database_instance("no-such-instance")

    first = w.database.generate_database_credential(instance_names=["signoff-lakebase"])
    assert first.token and first.expiration_time
    rotated = httpx.post(
        f"{emulator.url}/emulator/database/rotate", json={"token": "lakebase-rotated"}
    ).json()["token"]
    assert rotated == "lakebase-rotated"
    assert w.database.generate_database_credential(instance_names=["signoff-lakebase"]).token == (
        "lakebase-rotated"
    )
    fresh = httpx.post(f"{emulator.url}/emulator/database/rotate").json()["token"]
    assert fresh not in (first.token, rotated)


# Serving


async def test_emulators_start_inside_a_running_loop_each_with_its_own_state(emulator) -> None:
    with start_emulator() as second:
        assert second.url != emulator.url
        other = WorkspaceClient(host=second.url, token=second.token, auth_type="pat")
        assert other.jobs.run_now(101).run_id == 1001
        assert second.emulator.dataset.path != emulator.emulator.dataset.path
        data_dir = second.emulator.dataset.path.parent
    assert not data_dir.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{second.url}/.well-known/databricks-config")


def test_command_line_prints_the_export_line(tmp_path) -> None:
    command = [sys.executable, "-m", "emulator", "--port", "0", "--data-dir", tmp_path]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        export = next(line for line in process.stdout if line.startswith("export ")).split()
        assert export[2] == "DATABRICKS_TOKEN=dapi-signoff-emulator"
        host = export[1].removeprefix("DATABRICKS_HOST=")
        assert httpx.get(f"{host}/.well-known/databricks-config").status_code == 200
        assert (tmp_path / "signoff.db").exists()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_refund_retried_with_its_key_issues_nothing_new(emulator, uc_tools) -> None:
    refund = uc_tools["main__support__issue_refund"]
    tag = uuid.uuid4().hex
    call = {"order_id": 3, "amount": 1.5, "reason": f"retry {tag}", "idempotency_key": tag}
    first = json.loads(refund.invoke(call))["value"]
    again = json.loads(refund.invoke(call))["value"]
    assert again == first and first.startswith("Refund R-")
    rows = [r for r in emulator.emulator.state()["refunds"] if r["idempotency_key"] == tag]
    assert len(rows) == 1


def test_the_agents_fill_the_refund_key_themselves(emulator, uc_tools) -> None:
    keyed = with_idempotency_key(uc_tools["main__support__issue_refund"])
    assert "idempotency_key" not in keyed.tool_call_schema.model_fields  # the model never sees it
    assert "tool_call_id" not in keyed.tool_call_schema.model_fields
    args = {"order_id": 4, "amount": 1.0, "reason": f"keyed {uuid.uuid4().hex}"}
    config = {"configurable": {"thread_id": "thread-a"}}
    results = [
        keyed.invoke({"name": keyed.name, "args": args, "id": call, "type": "tool_call"}, config)
        for call in ("call-1", "call-1", "call-2")
    ]
    assert results[0].content == results[1].content != results[2].content
    rows = [r for r in emulator.emulator.state()["refunds"] if r["reason"] == args["reason"]]
    assert len(rows) == 2  # one per tool call, however often each is retried
    assert len({row["idempotency_key"] for row in rows}) == 2
