"""SignoffAgent (`signoff.serving`): signoff graphs behind MLflow's `ResponsesAgent`, as Model
Serving runs them, in process on the real clients, the local workspace emulator and a real
checkpointer; the OpenAI Responses approval items (`mcp_approval_request` out,
`mcp_approval_response` in), also from the OpenAI Agents SDK over HTTP; and the deploy
script's dry run."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import mlflow
import pytest
from agents import (
    Agent,
    HostedMCPTool,
    ItemHelpers,
    MCPToolApprovalFunctionResult,
    MCPToolApprovalRequest,
    ModelSettings,
    OpenAIResponsesModel,
    Runner,
    set_tracing_disabled,
)
from langchain_core.messages import HumanMessage
from mlflow.exceptions import MlflowException
from mlflow.types.responses import ResponsesAgentResponse, create_mcp_approval_response_item
from mlflow.types.responses_helpers import McpApprovalRequest
from openai import AsyncOpenAI

from emulator.server import RunningEmulator
from signoff.databricks.workspace import workspace_client
from signoff.execution.ledger import read_entries
from signoff.governance.identity import Identity
from signoff.graphs import GRAPHS
from signoff.serving import SignoffAgent
from signoff.settings import load_settings
from signoff.standing.manage import create_delegation, revoke_delegation
from tests.dev_users import GROUPS, TOKENS
from tests.integration.conftest import tagged_job_runs, tagged_refunds
from tests.model_serving_caller import (
    ServingEndpoint,
    caller_for,
    calling_as,
    serving_environment,
    text_of,
)

ROOT = Path(__file__).resolve().parents[2]
PAYMENT = {"operation": {"kind": "payment", "amount": 5000, "target": "acct-9"}}
SDK_TOOL = {
    "type": "mcp",
    "server_label": "approve_reject",
    "server_url": "https://mcp.invalid",  # never called: the endpoint itself asks
    "require_approval": "always",
}
"""How an OpenAI Agents SDK app declares the graph whose approval requests it handles."""
set_tracing_disabled(True)  # the SDK would export its traces to OpenAI


@pytest.fixture(scope="module")
def serving_env(
    emulator: RunningEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """Point the clients at the emulator and keep MLflow traces and the ledger in a temp dir."""
    scratch = tmp_path_factory.mktemp("serving")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DATABRICKS_CONFIG_PROFILE", raising=False)
        patch.setenv("DATABRICKS_HOST", emulator.url)
        patch.setenv("DATABRICKS_TOKEN", emulator.token)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{scratch / 'mlflow.db'}")
        patch.setenv("SIGNOFF_LEDGER", str(scratch / "ledger.jsonl"))
        workspace_client.cache_clear()
        load_settings.cache_clear()
        with serving_environment(emulator.url):
            yield scratch
    workspace_client.cache_clear()
    load_settings.cache_clear()


@pytest.fixture(scope="module")
def backend_setting(emulator: RunningEmulator) -> str:
    """Where the agents keep their threads: Lakebase, as on Model Serving. The emulator's
    instance resolves to the session's PostgreSQL, reached through databricks-langchain's own
    Lakebase pool with a credential the workspace client generates."""
    return "lakebase://signoff-lakebase"


class CalledAsInServing:
    """A `SignoffAgent` called as Model Serving calls it: each request carries its caller's
    on-behalf-of-user token (alice's for new turns, a permitted decider's for answers)."""

    def __init__(self, agent: SignoffAgent) -> None:
        self.agent = agent

    def predict(self, request: Any) -> ResponsesAgentResponse:
        """`SignoffAgent.predict`, called by the request's caller."""
        calling_as(caller_for(self.agent, _as_dict(request)))
        return self.agent.predict(request)

    def predict_stream(self, request: Any) -> Iterator[Any]:
        """`SignoffAgent.predict_stream`, called by the request's caller."""
        calling_as(caller_for(self.agent, _as_dict(request)))
        return self.agent.predict_stream(request)

    def resume(self, decision: Any, thread_id: str) -> ResponsesAgentResponse:
        """`SignoffAgent.resume`, called by a permitted decider."""
        request = {"custom_inputs": {"thread_id": thread_id, "decision": decision}}
        calling_as(caller_for(self.agent, request))
        return self.agent.resume(decision, thread_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.agent, name)


def _as_dict(request: Any) -> dict[str, Any]:
    return request if isinstance(request, dict) else request.model_dump()


@pytest.fixture(scope="module")
def agent(serving_env: Path, backend_setting: str) -> Iterator[Callable[[str], SignoffAgent]]:
    """`agent("approve_reject")`: this module's open agent for that graph, called as in Model
    Serving."""
    opened: dict[str, Any] = {}
    with ExitStack() as stack:

        def open_agent(name: str) -> SignoffAgent:
            if name not in opened:
                opened[name] = CalledAsInServing(
                    stack.enter_context(SignoffAgent(GRAPHS[name], backend_setting))
                )
            return opened[name]

        yield open_agent


@pytest.fixture
def tag() -> str:
    """A unique marker to put in what the agents are asked, to find the effects of one test."""
    return uuid.uuid4().hex


def payload(text: str | None = None, **custom_inputs: Any) -> dict[str, Any]:
    """A Responses request as Model Serving receives it."""
    return {
        "input": [{"role": "user", "content": text}] if text else [],
        "custom_inputs": custom_inputs,
    }


def values(agent: SignoffAgent, thread_id: str) -> dict[str, Any]:
    """The thread's state."""
    return agent.open().get_state({"configurable": {"thread_id": thread_id}}).values


def checkpoint_id(agent: SignoffAgent, thread_id: str) -> str | None:
    """The thread's latest checkpoint: unchanged means nothing happened to the thread."""
    config = agent.open().get_state({"configurable": {"thread_id": thread_id}}).config
    return config["configurable"].get("checkpoint_id")


POLICY_REFUSALS = pytest.mark.parametrize(
    ("requester", "caller", "refusal"),
    [("bob", "bob", "four-eyes"), ("alice", "carol", "needs a member of managers")],
)
"""Who asks for the payment, who answers it, and what the policy says to that."""


def pause_payment(agent: SignoffAgent, as_user: str = "alice") -> tuple[str, dict[str, Any]]:
    """`as_user` asks for the 5,000 payment: its thread and its one pending action."""
    calling_as(as_user)
    paused = agent.agent.predict(payload(input=PAYMENT)).custom_outputs
    [action] = paused["pending_actions"]
    return paused["thread_id"], action


def start_job(agent: SignoffAgent, tag: str) -> ResponsesAgentResponse:
    """Ask the job agent to start the nightly job for `tag`: it pauses for approval."""
    return agent.predict(payload(f"start the nightly job for {tag}"))


def test_first_call_pauses_and_says_what_waits(agent, emulator, tag):
    response = start_job(agent("databricks_workflow"), tag)
    outputs = response.custom_outputs
    assert outputs["is_interrupted"] is True
    assert uuid.UUID(outputs["thread_id"])
    [call] = outputs["pending_actions"]
    assert outputs["pending_tool_calls"] == outputs["pending_actions"]  # the original name
    assert call["name"] == "start_databricks_job"
    assert call["requested_by"] == "alice@signoff.local"
    assert tag in call["args"]["user_request"]
    assert call["allowed_decisions"] == ["approve", "edit", "reject"]
    assert call["id"] and call["request_id"] and call["error"] is None
    text = text_of(response)
    assert "Waiting for approval" in text and "start_databricks_job" in text
    assert outputs["thread_id"] in text and '"decision": "approve"' in text
    assert tagged_job_runs(emulator, tag) == []


def test_a_new_thread_id_is_created_when_absent_and_kept_when_given(agent, tag):
    approve_reject = agent("approve_reject")
    small = {"operation": {"amount": 10, "target": "acct-1"}}
    first = approve_reject.predict(payload(input=small)).custom_outputs["thread_id"]
    second = approve_reject.predict(payload(input=small)).custom_outputs["thread_id"]
    assert first != second
    chosen = approve_reject.predict(payload(input=small, thread_id=f"client-{tag}"))
    assert chosen.custom_outputs["thread_id"] == f"client-{tag}"
    assert "Finished: executed" in text_of(chosen)


@pytest.mark.parametrize("decision", ["approved", {"decisions": [{"type": "approve"}]}])
def test_approve_starts_one_run_records_the_reviewer_and_the_thread_goes_on(
    agent, emulator, tag, decision
):
    workflow = agent("databricks_workflow")
    thread_id = start_job(workflow, tag).custom_outputs["thread_id"]
    approved = workflow.predict(payload(thread_id=thread_id, decision=decision))
    assert approved.custom_outputs == {
        "thread_id": thread_id,
        "is_interrupted": False,
        "pending_actions": [],
        "pending_tool_calls": [],
    }
    [run] = tagged_job_runs(emulator, tag)
    assert f"Started run {run['run_id']}" in text_of(approved)
    assert values(workflow, thread_id)["audit"][-1]["reviewer"] == "carol@signoff.local"

    status = workflow.predict(payload(f"status of run {run['run_id']}", thread_id=thread_id))
    assert f"Run {run['run_id']}" in text_of(status)
    assert status.custom_outputs["is_interrupted"] is False
    history = [
        m.content for m in values(workflow, thread_id)["messages"] if isinstance(m, HumanMessage)
    ]
    assert history == [f"start the nightly job for {tag}", f"status of run {run['run_id']}"]
    assert len(tagged_job_runs(emulator, tag)) == 1


@pytest.mark.parametrize(
    ("decision", "said"),
    [
        ("rejected", "rejected"),
        ("not during the freeze", "not during the freeze"),
        ({"decisions": [{"type": "reject", "message": "needs a ticket"}]}, "needs a ticket"),
    ],
)
def test_reject_and_feedback_start_no_run_and_the_answer_says_why(
    agent, emulator, tag, decision, said
):
    workflow = agent("databricks_workflow")
    thread_id = start_job(workflow, tag).custom_outputs["thread_id"]
    rejected = workflow.predict(payload(thread_id=thread_id, decision=decision))
    assert rejected.custom_outputs["is_interrupted"] is False
    assert said in text_of(rejected)
    assert tagged_job_runs(emulator, tag) == []
    assert values(workflow, thread_id)["audit"][-1]["decision"] == "reject"


def test_a_bad_decision_keeps_the_call_pending_then_a_good_one_completes(agent, emulator, tag):
    workflow = agent("databricks_workflow")
    paused = start_job(workflow, tag).custom_outputs
    thread_id, [asked] = paused["thread_id"], paused["pending_tool_calls"]
    refused = workflow.predict(
        payload(thread_id=thread_id, decision={"decisions": [{"type": "maybe"}]})
    )
    assert refused.custom_outputs["is_interrupted"] is True
    [again] = refused.custom_outputs["pending_tool_calls"]
    assert {k: again[k] for k in ("request_id", "name", "args")} == {
        k: asked[k] for k in ("request_id", "name", "args")
    }
    assert "'maybe'" in again["error"]
    assert "not accepted" in text_of(refused) and "'maybe'" in text_of(refused)
    assert tagged_job_runs(emulator, tag) == []
    done = workflow.predict(payload(thread_id=thread_id, decision="approve"))
    assert done.custom_outputs["is_interrupted"] is False
    assert len(tagged_job_runs(emulator, tag)) == 1


@pytest.mark.parametrize(
    ("custom_inputs", "error"),
    [
        (lambda thread: {"decision": "approve"}, "needs custom_inputs.thread_id"),
        (lambda thread: {"thread_id": "no-such-thread", "decision": "yes"}, "Unknown thread_id"),
        (
            lambda thread: {"thread_id": thread, "decisions": {"no-such-interrupt": "approve"}},
            "not waiting on interrupt id",
        ),
        (
            lambda thread: {"thread_id": thread, "decision": "yes", "decisions": {"x": "yes"}},
            "not custom_inputs.decision and custom_inputs.decisions together",
        ),
        (
            lambda thread: {"thread_id": thread, "input": PAYMENT},
            "is waiting for approval of payment",
        ),
    ],
    ids=["no-thread", "unknown-thread", "unknown-interrupt", "both", "new-input-while-waiting"],
)
def test_requests_that_cannot_apply_raise_and_change_nothing(agent, custom_inputs, error):
    approve_reject = agent("approve_reject")
    thread_id = approve_reject.predict(payload(input=PAYMENT)).custom_outputs["thread_id"]
    before = checkpoint_id(approve_reject, thread_id)
    with pytest.raises(ValueError, match=error):
        approve_reject.predict(payload(**custom_inputs(thread_id)))
    assert checkpoint_id(approve_reject, thread_id) == before
    assert not [e for e in read_entries() if e["thread_id"] == thread_id]


def test_a_decision_for_a_thread_that_waits_for_nothing_raises_and_changes_nothing(agent):
    approve_reject = agent("approve_reject")
    thread_id = approve_reject.predict(payload(input=PAYMENT)).custom_outputs["thread_id"]
    approve_reject.resume("approve", thread_id)
    before = checkpoint_id(approve_reject, thread_id)
    with pytest.raises(ValueError, match="is not waiting for a decision"):
        approve_reject.resume("approve", thread_id)
    assert checkpoint_id(approve_reject, thread_id) == before
    assert len([e for e in read_entries() if e["thread_id"] == thread_id]) == 1


def test_operation_graph_end_to_end_with_resume(agent):
    approve_reject = agent("approve_reject")
    paused = approve_reject.predict(payload(input=PAYMENT))
    [call] = paused.custom_outputs["pending_tool_calls"]
    assert (call["name"], call["allowed_decisions"]) == ("payment", ["approve", "reject"])
    assert call["args"]["amount"] == 5000
    thread_id = paused.custom_outputs["thread_id"]
    done = approve_reject.resume("approve", thread_id)
    assert done.custom_outputs["is_interrupted"] is False
    [entry] = [e for e in read_entries() if e["thread_id"] == thread_id]
    assert entry["details"]["target"] == "acct-9"
    assert text_of(done).startswith("Finished: executed.") and entry["id"] in text_of(done)
    assert values(approve_reject, thread_id)["reviewers"] == ["bob@signoff.local"]


def test_parallel_calls_are_answered_separately_by_interrupt_id(agent, emulator, tag):
    tools = agent("review_tool_calls")
    paused = tools.predict(
        payload(
            f"refund 5 on order 3 because late {tag} and refund 7 on order 4 because broken {tag}"
        )
    )
    thread_id = paused.custom_outputs["thread_id"]
    by_order = {c["args"]["order_id"]: c for c in paused.custom_outputs["pending_tool_calls"]}
    assert set(by_order) == {3, 4} and by_order[3]["id"] != by_order[4]["id"]
    half = tools.predict(payload(thread_id=thread_id, decisions={by_order[3]["id"]: "approve"}))
    assert [c["id"] for c in half.custom_outputs["pending_tool_calls"]] == [by_order[4]["id"]]
    assert tagged_refunds(emulator, tag) == []  # nothing runs before every call is decided
    done = tools.predict(payload(thread_id=thread_id, decisions={by_order[4]["id"]: "no"}))
    assert done.custom_outputs["is_interrupted"] is False
    assert [r["order_id"] for r in tagged_refunds(emulator, tag)] == [3]


def test_one_decision_answers_every_parallel_call(agent, emulator, tag):
    tools = agent("review_tool_calls")
    paused = tools.predict(
        payload(f"refund 1 on order 5 because a {tag} and refund 2 on order 6 because b {tag}")
    )
    assert len(paused.custom_outputs["pending_tool_calls"]) == 2
    thread_id = paused.custom_outputs["thread_id"]
    done = tools.resume("approve", thread_id)
    assert done.custom_outputs["is_interrupted"] is False
    assert sorted(r["amount"] for r in tagged_refunds(emulator, tag)) == [1.0, 2.0]


def test_predict_stream_streams_text_and_ends_with_the_custom_outputs(agent, emulator, tag):
    workflow = agent("databricks_workflow")
    events = list(workflow.predict_stream(payload(f"start the nightly job for {tag}")))
    *deltas, done, approval = events
    assert {e.type for e in deltas} == {"response.output_text.delta"}
    assert done.type == approval.type == "response.output_item.done"
    assert "".join(e.delta for e in deltas) == done.item["content"][0]["text"]
    assert approval.custom_outputs["is_interrupted"] is True
    [action] = approval.custom_outputs["pending_actions"]
    assert approval.item["type"] == "mcp_approval_request"
    assert approval.item["id"] == action["request_id"]
    assert all(e.custom_outputs is None for e in [*deltas, done])
    thread_id = approval.custom_outputs["thread_id"]

    stream = workflow.predict_stream(payload(thread_id=thread_id, decision="approve"))
    first = next(stream)
    with pytest.raises(ValueError, match="still running another request"):
        workflow.predict(payload(thread_id=thread_id, decision="approve"))
    *deltas, done = [first, *stream]
    [run] = tagged_job_runs(emulator, tag)
    assert len(deltas) > 1 and {e.item_id for e in deltas} == {done.item["id"]}
    assert "".join(e.delta for e in deltas) == done.item["content"][0]["text"]
    assert f"Started run {run['run_id']}" in done.item["content"][0]["text"]
    assert done.custom_outputs == {
        "thread_id": thread_id,
        "is_interrupted": False,
        "pending_actions": [],
        "pending_tool_calls": [],
    }


def test_the_entry_point_logs_and_loads_as_an_mlflow_model(
    serving_env, backend_setting, monkeypatch
):
    monkeypatch.setenv("SIGNOFF_SERVING_GRAPH", "approve_reject")
    monkeypatch.setenv("SIGNOFF_CHECKPOINTER", backend_setting)
    path = serving_env / f"model-{uuid.uuid4().hex}"
    calling_as("alice")  # saving runs the input example through the agent
    mlflow.pyfunc.save_model(
        path,
        python_model=str(ROOT / "deploy" / "serving_entry.py"),
        input_example=payload(input=PAYMENT),
        pip_requirements=["mlflow"],
    )
    served = mlflow.pyfunc.load_model(str(path))
    response = served.predict(payload(input=PAYMENT))
    assert response["custom_outputs"]["is_interrupted"] is True
    [action] = response["custom_outputs"]["pending_tool_calls"]
    assert action["name"] == "payment"
    assert [item["type"] for item in response["output"]] == ["message", "mcp_approval_request"]
    assert response["output"][1]["id"] == action["request_id"]


def test_deploy_script_dry_run_contacts_nothing():
    unreachable = "http://127.0.0.1:9"
    env = {
        **os.environ,
        "DATABRICKS_HOST": unreachable,
        "MLFLOW_TRACKING_URI": "databricks",
        "HTTP_PROXY": unreachable,
        "HTTPS_PROXY": unreachable,
    }
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "deploy" / "model_serving.py"),
            "--model=main.agents.signoff",
            "--lakebase-instance=signoff-state",
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for expected in (
        "mlflow.pyfunc.log_model",
        "deploy/serving_entry.py",
        'mlflow.register_model(<the logged model\'s uri>, "main.agents.signoff")',
        "databricks.agents.deploy",
        '"LAKEBASE_INSTANCE_NAME": "signoff-state"',
        '"lakebase"',
        '"main.support.issue_refund"',
    ):
        assert expected in result.stdout, expected
    log_model = json.loads(result.stdout.split("log_model(**", 1)[1].split(")\nmlflow.", 1)[0])
    code_paths = [Path(path) for path in log_model["code_paths"]]
    assert [path.relative_to(ROOT).as_posix() for path in code_paths] == [
        "signoff",
        "graphs",
        "tools",
        "signoff.toml",
    ]
    shipped = [file for path in code_paths for file in [path, *path.rglob("*")]]
    assert not [file for file in shipped if "emulator" in file.relative_to(ROOT).parts]
    assert not [r for r in log_model["pip_requirements"] if r.startswith("uvicorn")]


@POLICY_REFUSALS
def test_a_decision_the_policy_refuses_raises_and_leaves_the_request_pending(
    agent, requester, caller, refusal
):
    approve_reject = agent("approve_reject")
    thread_id, call = pause_payment(approve_reject, requester)
    calling_as(caller)  # what Model Serving says about the caller; the body cannot say it
    body = payload(thread_id=thread_id, decision="approve")
    body["context"] = {"user_id": "dave@signoff.local"}
    with pytest.raises(PermissionError, match=refusal):
        approve_reject.agent.predict(body)
    state = approve_reject.open().get_state({"configurable": {"thread_id": thread_id}})
    assert state.interrupts[0].value["request_id"] == call["request_id"]
    assert [e for e in read_entries() if e["thread_id"] == thread_id] == []
    done = approve_reject.resume("approve", thread_id)
    assert text_of(done).startswith("Finished: executed.")
    assert values(approve_reject, thread_id)["requested_by"] == f"{requester}@signoff.local"


# OpenAI Responses approval items: `mcp_approval_request` out, `mcp_approval_response` in.


def approval(request_id: Any, approve: Any = True, reason: Any = None) -> dict[str, Any]:
    """An `mcp_approval_response` input item, as MLflow's helper writes it."""
    return create_mcp_approval_response_item(uuid.uuid4().hex, request_id, approve, reason)


def approving(thread_id: str, *items: dict[str, Any]) -> dict[str, Any]:
    """A request answering `thread_id` with approval response `items`."""
    return {"input": list(items), "custom_inputs": {"thread_id": thread_id}}


def approval_items(response: ResponsesAgentResponse) -> list[dict[str, Any]]:
    """The response's `mcp_approval_request` items, after the text item."""
    return [i.model_dump(exclude_none=True) for i in response.output[1:]]


def test_a_pause_emits_one_valid_approval_request_item_per_parallel_call(agent, emulator, tag):
    tools = agent("review_tool_calls")
    paused = tools.predict(
        payload(f"refund 5 on order 3 because late {tag} and refund 7 on order 4 because {tag}")
    )
    again = ResponsesAgentResponse.model_validate(json.loads(paused.model_dump_json()))
    assert again.output == paused.output  # valid as MLflow's own response type, over JSON
    items = approval_items(paused)
    actions = paused.custom_outputs["pending_actions"]
    assert len(items) == len(actions) == 2
    for item, action in zip(items, actions, strict=True):
        assert item == McpApprovalRequest(**item).model_dump(exclude_none=True)
        assert item == {
            "type": "mcp_approval_request",
            "id": action["request_id"],
            "name": action["name"],
            "arguments": json.dumps(action["args"], sort_keys=True),
            "server_label": "review_tool_calls",
        }
        assert action["summary"].startswith("Issue refund of ")
        assert f"{action['summary']}\n" in text_of(paused)
        assert f"Approval request id: {action['request_id']}" in text_of(paused)
    assert len({item["id"] for item in items}) == 2
    assert [json.loads(item["arguments"])["order_id"] for item in items] == [3, 4]


def test_an_approval_response_from_another_user_runs_the_action_once(agent):
    approve_reject = agent("approve_reject")
    thread_id, action = pause_payment(approve_reject)
    done = approve_reject.predict(
        approving(thread_id, approval(action["request_id"], reason="invoice 1042 checked"))
    )
    assert done.custom_outputs["is_interrupted"] is False and approval_items(done) == []
    assert text_of(done).startswith("Finished: executed.")
    [entry] = [e for e in read_entries() if e["thread_id"] == thread_id]
    assert entry["details"]["amount"] == 5000
    [decided] = values(approve_reject, thread_id)["audit"]
    assert (decided["decision"], decided["reviewer"]) == ("approve", "bob@signoff.local")
    assert (decided["comment"], decided["request_id"]) == (
        "invoice 1042 checked",
        action["request_id"],
    )
    with pytest.raises(ValueError, match="is not waiting for a decision"):
        approve_reject.predict(approving(thread_id, approval(action["request_id"])))
    assert len([e for e in read_entries() if e["thread_id"] == thread_id]) == 1


def test_an_approval_response_with_approve_false_rejects_with_its_reason(agent):
    approve_reject = agent("approve_reject")
    thread_id, action = pause_payment(approve_reject)
    done = approve_reject.predict(
        approving(thread_id, approval(action["request_id"], False, "no purchase order"))
    )
    assert done.custom_outputs["is_interrupted"] is False
    assert values(approve_reject, thread_id)["status"] == "rejected"
    assert "no purchase order" in text_of(done)
    [decided] = values(approve_reject, thread_id)["audit"]
    assert (decided["decision"], decided["comment"]) == ("reject", "no purchase order")
    assert [e for e in read_entries() if e["thread_id"] == thread_id] == []


@POLICY_REFUSALS
def test_an_approval_the_policy_refuses_is_shown_and_the_request_stays_answerable(
    agent, requester, caller, refusal
):
    approve_reject = agent("approve_reject")
    thread_id, action = pause_payment(approve_reject, requester)
    before = checkpoint_id(approve_reject, thread_id)
    calling_as(caller)  # what Model Serving says about the caller; the body cannot say it
    answer = approving(thread_id, approval(action["request_id"]))
    if caller == requester:  # who may see the thread is shown the refusal and what waits
        refused = approve_reject.agent.predict(answer)
        assert text_of(refused).startswith("Not applied: ") and refusal in text_of(refused)
        assert refused.custom_outputs["pending_actions"] == [action]
        assert [item["id"] for item in approval_items(refused)] == [action["request_id"]]
    else:  # who may not is told why, and nothing of what the thread waits for
        with pytest.raises(PermissionError, match=refusal):
            approve_reject.agent.predict(answer)
    assert checkpoint_id(approve_reject, thread_id) == before
    done = approve_reject.predict(approving(thread_id, approval(action["request_id"])))
    assert text_of(done).startswith("Finished: executed.")
    assert values(approve_reject, thread_id)["requested_by"] == f"{requester}@signoff.local"


@pytest.mark.parametrize(
    ("items", "said"),
    [
        (
            lambda action: [approval("no-such-request")],
            "not waiting on approval request id(s) no-such-request; it waits on {request_id}",
        ),
        (  # the interrupt id answers custom_inputs.decisions, not an approval item
            lambda action: [approval(action["id"])],
            "not waiting on approval request id(s) {id}",
        ),
        (
            lambda action: [approval(action["request_id"], "yes")],
            "needs `approve` as JSON true or false, not 'yes'",
        ),
        (lambda action: [approval("  ")], "needs `approval_request_id`"),
        (
            lambda action: [approval(action["request_id"]), approval(action["request_id"])],
            "answered more than once",
        ),
    ],
    ids=["unknown-id", "interrupt-id", "approve-not-boolean", "blank-id", "twice"],
)
def test_approval_responses_that_cannot_answer_are_refused_clearly_and_change_nothing(
    agent, items, said
):
    approve_reject = agent("approve_reject")
    thread_id, action = pause_payment(approve_reject)
    before = checkpoint_id(approve_reject, thread_id)
    refused = approve_reject.predict(approving(thread_id, *items(action)))
    assert text_of(refused).startswith("Not applied: ")
    assert said.format(**action) in text_of(refused)
    assert refused.custom_outputs["is_interrupted"] is True
    assert [item["id"] for item in approval_items(refused)] == [action["request_id"]]
    assert checkpoint_id(approve_reject, thread_id) == before
    assert [e for e in read_entries() if e["thread_id"] == thread_id] == []
    done = approve_reject.predict(approving(thread_id, approval(action["request_id"])))
    assert text_of(done).startswith("Finished: executed.")


def test_an_approval_response_mlflow_cannot_read_is_refused_by_mlflow_and_changes_nothing(agent):
    approve_reject = agent("approve_reject")
    thread_id, action = pause_payment(approve_reject)
    before = checkpoint_id(approve_reject, thread_id)
    missing_id = {"type": "mcp_approval_response", "approve": True}
    with pytest.raises(MlflowException, match=r"approval_request_id\n +Field required"):
        approve_reject.predict(approving(thread_id, missing_id))
    assert checkpoint_id(approve_reject, thread_id) == before


def test_a_request_with_no_input_shows_what_the_thread_waits_for_and_changes_nothing(agent):
    approve_reject = agent("approve_reject")
    thread_id, action = pause_payment(approve_reject)
    before = checkpoint_id(approve_reject, thread_id)
    shown = approve_reject.predict(payload(thread_id=thread_id))
    assert shown.custom_outputs["pending_actions"] == [action]
    assert [item["id"] for item in approval_items(shown)] == [action["request_id"]]
    assert text_of(shown).startswith("Waiting for approval (1 pending)")
    calling_as("carol")  # in security, not managers: she may not see alice's payment
    with pytest.raises(ValueError, match=f"no thread {thread_id} that carol@signoff.local may"):
        approve_reject.agent.predict(payload(thread_id=thread_id))
    assert checkpoint_id(approve_reject, thread_id) == before


def test_approval_responses_and_a_custom_inputs_decision_together_are_refused(agent):
    approve_reject = agent("approve_reject")
    thread_id, action = pause_payment(approve_reject)
    body = approving(thread_id, approval(action["request_id"]))
    body["custom_inputs"]["decision"] = "reject"
    with pytest.raises(ValueError, match="not custom_inputs.decision and mcp_approval_response"):
        approve_reject.predict(body)
    with pytest.raises(ValueError, match="needs custom_inputs.thread_id"):
        approve_reject.predict({"input": [approval(action["request_id"])]})


def test_several_approval_responses_answer_parallel_calls_separately(agent, emulator, tag):
    tools = agent("review_tool_calls")
    paused = tools.predict(
        payload(
            f"refund 5 on order 3 because late {tag}; refund 7 on order 4 because broken {tag}; "
            f"refund 9 on order 8 because lost {tag}"
        )
    )
    thread_id = paused.custom_outputs["thread_id"]
    by_order = {c["args"]["order_id"]: c for c in paused.custom_outputs["pending_actions"]}
    assert set(by_order) == {3, 4, 8}
    half = tools.predict(
        approving(
            thread_id,
            approval(by_order[3]["request_id"], True),
            approval(by_order[4]["request_id"], False, "already refunded"),
        )
    )
    assert [item["id"] for item in approval_items(half)] == [by_order[8]["request_id"]]
    assert tagged_refunds(emulator, tag) == []  # nothing runs before every call is decided
    done = tools.predict(approving(thread_id, approval(by_order[8]["request_id"])))
    assert done.custom_outputs["is_interrupted"] is False
    assert sorted(r["order_id"] for r in tagged_refunds(emulator, tag)) == [3, 8]
    decided = {e["call_id"]: e for e in values(tools, thread_id)["audit"]}
    assert {e["decision"] for e in decided.values()} == {"approve", "reject"}
    assert [e["comment"] for e in decided.values() if e["decision"] == "reject"] == [
        "already refunded"
    ]


def test_a_delegate_approves_through_an_approval_response_on_behalf_of_the_delegator(agent):
    approve_reject = agent("approve_reject")
    store = approve_reject.open().store
    bob = Identity("bob@signoff.local", frozenset(GROUPS["bob@signoff.local"]))
    spec = {"delegate": "frank@signoff.local", "ends_in": "1h"}
    delegation = asyncio.run(create_delegation(store, bob, spec))
    thread_id, action = pause_payment(approve_reject)
    calling_as("frank")  # finance, not a manager: only bob's delegation lets him decide
    try:
        done = approve_reject.agent.predict(approving(thread_id, approval(action["request_id"])))
    finally:
        asyncio.run(revoke_delegation(store, bob, delegation["id"]))
    assert text_of(done).startswith("Finished: executed."), text_of(done)
    [decided] = values(approve_reject, thread_id)["audit"]
    assert (decided["reviewer"], decided["on_behalf_of"]) == (
        "frank@signoff.local",
        "bob@signoff.local",
    )


def test_predict_stream_shows_a_refused_approval_and_the_request_again(agent, emulator, tag):
    workflow = agent("databricks_workflow")
    paused = start_job(workflow, tag).custom_outputs
    [action] = paused["pending_actions"]
    calling_as("alice")  # she asked: four-eyes
    body = approving(paused["thread_id"], approval(action["request_id"]))
    *deltas, done, again = workflow.agent.predict_stream(body)
    assert "".join(e.delta for e in deltas) == done.item["content"][0]["text"]
    assert done.item["content"][0]["text"].startswith("Not applied: ")
    assert again.item["id"] == action["request_id"]
    assert again.custom_outputs["pending_actions"] == [action]
    assert tagged_job_runs(emulator, tag) == []


async def test_the_openai_agents_sdk_asks_and_approves_through_the_approval_items(agent):
    """The OpenAI Agents SDK on the OpenAI client, over HTTP, as apps of the endpoint do: alice
    asks and her run stops at the approval request; her own approval is not applied; bob's
    app, sent the thread, fetches the request and its hook approves it: the payment runs once."""
    approve_reject = agent("approve_reject")
    thread_id = str(uuid.uuid4())  # the app picks its thread

    def app(endpoint: ServingEndpoint, user: str, **tool: Any) -> Agent:
        client = AsyncOpenAI(base_url=f"{endpoint.url}/serving-endpoints", api_key=TOKENS[user])
        inputs = {"thread_id": thread_id, "input": PAYMENT} if user == "alice" else {}
        return Agent(
            name=f"payments for {user}",
            model=OpenAIResponsesModel(model="signoff", openai_client=client),
            tools=[HostedMCPTool(tool_config=SDK_TOOL, **tool)],
            model_settings=ModelSettings(
                extra_body={"custom_inputs": {"thread_id": thread_id, **inputs}}
            ),
        )

    approvals: list[str] = []

    def bob_approves(asked: MCPToolApprovalRequest) -> MCPToolApprovalFunctionResult:
        approvals.append(asked.data.id)
        return {"approve": True}

    with ServingEndpoint(approve_reject.agent) as endpoint:
        alices = app(endpoint, "alice")
        asked = await Runner.run(alices, "pay 5,000 to acct-9")
        [interruption] = asked.interruptions
        request = interruption.raw_item
        assert (request.type, request.server_label) == ("mcp_approval_request", "approve_reject")
        assert (request.name, json.loads(request.arguments)["amount"]) == ("payment", 5000)
        said = ItemHelpers.text_message_outputs(asked.new_items)
        assert "1. payment of 5,000 USD to acct-9\n" in said

        state = asked.to_state()
        state.approve(interruption)
        own = await Runner.run(alices, state)
        assert own.final_output.startswith("Not applied: alice@signoff.local may not decide")
        assert values(approve_reject, thread_id)["audit"] == []

        done = await Runner.run(app(endpoint, "bob", on_approval_request=bob_approves), [])
    assert approvals == [request.id]
    assert done.final_output.startswith("Finished: executed.")
    assert len([e for e in read_entries() if e["thread_id"] == thread_id]) == 1
    [decided] = values(approve_reject, thread_id)["audit"]
    assert (decided["reviewer"], decided["request_id"]) == ("bob@signoff.local", request.id)
