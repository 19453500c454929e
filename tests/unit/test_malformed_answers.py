"""Every malformed answer re-pauses with a clear error; the next correct answer completes.

A node that raised on a bad resume would wedge its thread: the bad value is stored as the
resume write and replayed forever. Each row here proves the thread survives it, in process,
on every review node (the reviewed tool loop on its scripted model). The same contract
through the server, and values only the server refuses: `integration/test_malformed_answers`.
"""

from __future__ import annotations

import pytest

from tests.in_process import REFUND, REFUND_AGENT

PAYMENT = ("approve_reject", {"operation": {"amount": 5000, "target": "acct-9"}})
DRAFT = ("edit_state", {"brief": {"to": ["ops@example.com"], "topic": "the outage"}})
TOOL = (REFUND_AGENT, {"messages": [{"role": "user", "content": "refund 25 on order 17"}]})


def nested(depth):
    """`"approve"` inside `depth` levels of `{"decisions": [...]}`."""
    value = "approve"
    for _ in range(depth // 2):
        value = {"decisions": [value]}
    return value


def edit(name, **args):
    """A langchain edit decision."""
    return {"decisions": [{"type": "edit", "edited_action": {"name": name, "args": args}}]}


MALFORMED = [
    # (case, graph+input, bad answer, fragment of the error)
    ("unknown type", PAYMENT, {"decisions": [{"type": "maybe"}]}, "unknown decision type 'maybe'"),
    (
        "not allowed here",
        PAYMENT,
        {"decisions": [{"type": "respond", "message": "hi"}]},
        "'respond' is not allowed for 'payment'; allowed: approve, reject",
    ),
    ("no decisions", PAYMENT, {"decisions": []}, "Got 0 decision(s) for 1 action(s)"),
    (
        "too many decisions",
        PAYMENT,
        {"decisions": [{"type": "approve"}] * 2},
        "Got 2 decision(s) for 1 action(s)",
    ),
    ("decisions not a list", PAYMENT, {"decisions": "approve"}, '"decisions" must be a list'),
    (
        "stale digest",
        PAYMENT,
        {"decisions": [{"type": "approve"}], "args_digest": "0" * 64},
        "Stale answer: args_digest",
    ),
    ("number", PAYMENT, 42, "An answer of type int is not understood"),
    ("boolean", PAYMENT, True, "An answer of type bool is not understood"),
    ("empty text", PAYMENT, "   ", "The answer is empty"),
    ("broken JSON text", PAYMENT, '{"decisions": [', "looks like JSON but does not parse"),
    (
        "JSON text, unknown type",
        PAYMENT,
        '{"decisions": [{"type": "escalate"}]}',
        "unknown decision type 'escalate'",
    ),
    ("doubly encoded string", PAYMENT, '"\\"approve\\""', "encoded as JSON twice"),
    ("object without type", PAYMENT, {"verdict": "ok"}, 'neither "decisions" nor "type"'),
    (
        "decision not an object",
        PAYMENT,
        {"decisions": ["approve"]},
        'must be an object with a string "type"',
    ),
    (
        "reject message not text",
        PAYMENT,
        {"decisions": [{"type": "reject", "message": 7}]},
        "the message must be text, not int",
    ),
    (
        "inbox list count",
        PAYMENT,
        [{"type": "accept"}, {"type": "accept"}],
        "Got 2 decision(s) for 1 action(s)",
    ),
    (
        "edit without edited_action",
        DRAFT,
        {"decisions": [{"type": "edit"}]},
        '"edit" needs "edited_action"',
    ),
    (
        "edit of another action",
        DRAFT,
        edit("delete_everything", to=["a@b.co"], subject="s", body="b"),
        "not the action (got 'delete_everything')",
    ),
    (
        "edited args fail the schema",
        DRAFT,
        edit("send_message", to=["nobody"], subject="", body="b"),
        "Edited arguments for 'send_message' are invalid",
    ),
    (
        "tool edit with bad amount",
        TOOL,
        edit(REFUND, order_id=17, amount="lots", reason="x"),
        "amount: Input should be a valid number",
    ),
    (
        "respond without text",
        TOOL,
        {"decisions": [{"type": "respond", "message": "  "}]},
        '"respond" needs a non-empty "message"',
    ),
    (
        "inbox response without text",
        TOOL,
        [{"type": "response"}],
        '"response" needs a non-empty "message"',
    ),
    ("5,000 brackets as text", PAYMENT, "[" * 5000, "nested deeper than 32 levels"),
    (
        "deeply nested JSON object as text",
        DRAFT,
        '{"decisions":' * 3000 + '"approve"' + "}" * 3000,
        "nested deeper than 32 levels",
    ),
    ("deeply nested object", PAYMENT, nested(200), "nested deeper than 32 levels"),
    ("huge text", TOOL, "x" * 100_000, "larger than 65,536 bytes"),
    (
        "huge decision list",
        DRAFT,
        {"decisions": [{"type": "reject", "message": "no"}] * 5000},
        "larger than 65,536 bytes",
    ),
]


@pytest.mark.parametrize(
    ("graph_input", "bad", "error"), [pytest.param(g, b, e, id=case) for case, g, b, e in MALFORMED]
)
async def test_bad_answer_repauses_then_correct_answer_completes(flow, graph_input, bad, error):
    graph, payload = graph_input
    await repauses_then_completes(flow(graph), payload, bad, error)


async def repauses_then_completes(run, payload, bad, error):
    """Start `run` on `payload`, answer `bad`: the same request pauses again with `error`
    and nothing runs; then a correct answer executes it once."""
    await run.start(payload)
    first = await run.request()
    await run.resume(bad)
    assert await run.status() == "interrupted"
    again = await run.request()
    assert error in again["error"]
    assert "This request takes 1 decision(s), in order (" in again["error"]
    assert again["request_id"] == first["request_id"]
    assert again["action_requests"] == first["action_requests"]
    assert run.executions() == []
    await run.resume({"decisions": [{"type": "approve"}]})
    assert await run.status() == "idle"
    assert len(run.executions()) == 1


async def test_several_bad_answers_in_a_row_then_a_good_one(flow):
    run = flow("approve_reject")
    await run.start(PAYMENT[1])
    for bad in (42, "", {"decisions": []}):
        await run.resume(bad)
        assert await run.status() == "interrupted"
    result = await run.resume("approved")
    assert result["status"] == "executed" and len(run.executions()) == 1
