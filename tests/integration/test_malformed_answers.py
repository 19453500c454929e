"""Malformed answers through the real server: the request stays pending and answerable.

The whole table of malformed answers runs in process (`unit/test_malformed_answers`); here a
sample of it crosses HTTP to each graph as served (the real tool agent on the emulator).
Answers past the limits never reach a node: the server's auth refuses them where they enter
(422, naming the limit), as langgraph itself refuses the values no checkpoint can hold; the
request stays pending and answerable either way.
"""

from __future__ import annotations

import contextlib

import httpx
import pytest

from tests.unit.test_malformed_answers import MALFORMED as UNIT_TABLE
from tests.unit.test_malformed_answers import PAYMENT, edit, nested, repauses_then_completes

TOOL = ("review_tool_calls", {"messages": [{"role": "user", "content": "refund 25 on order 17"}]})


def tagged(payload, tag):
    """`payload` with the flow's tag as the refund reason, so its refund can be counted."""
    if "messages" not in payload:
        return payload
    text = f"{payload['messages'][0]['content']} because damaged {tag}"
    return {"messages": [{"role": "user", "content": text}]}


SAMPLE = ("unknown type", "edited args fail the schema")
MALFORMED = [row for row in UNIT_TABLE if row[0] in SAMPLE] + [
    # (case, graph+input, bad answer, fragment of the error): the real agent's tool
    (
        "tool edit with bad amount",
        TOOL,
        edit("main__support__issue_refund", order_id=17, amount="lots", reason="x"),
        "amount: Input should be a valid number",
    ),
]
OUT_OF_BOUNDS = [row for row in UNIT_TABLE if row[0] == "deeply nested object"] + [
    ("huge text", TOOL, "x" * 100_000, "larger than 65,536 bytes"),
]


@pytest.mark.parametrize(
    ("graph_input", "bad", "error"), [pytest.param(g, b, e, id=case) for case, g, b, e in MALFORMED]
)
async def test_bad_answer_repauses_then_correct_answer_completes(flow, graph_input, bad, error):
    graph, payload = graph_input
    run = flow(graph)
    await repauses_then_completes(run, tagged(payload, run.tag), bad, error)


@pytest.mark.parametrize(
    ("graph_input", "bad", "error"),
    [pytest.param(g, b, e, id=case) for case, g, b, e in OUT_OF_BOUNDS],
)
async def test_an_answer_past_the_limits_is_refused_where_it_enters(flow, graph_input, bad, error):
    graph, payload = graph_input
    run = flow(graph)
    await run.start(tagged(payload, run.tag))
    first = await run.request()
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await run.resume(bad)
    assert refused.value.response.status_code == 422 and error in refused.value.response.text
    assert (await run.request()) == first and run.executions() == []
    await run.resume("approve")
    assert await run.status() == "idle" and len(run.executions()) == 1


@pytest.mark.parametrize(
    "unstorable", [pytest.param(nested(600), id="nested past 255"), pytest.param(None, id="null")]
)
async def test_an_answer_no_checkpoint_can_hold_leaves_the_request_answerable(flow, unstorable):
    """langgraph itself refuses these before any node runs (its checkpoint serializer stops at
    255 levels; a null resume resumes nothing): the request stays pending, unchanged."""
    run = flow("approve_reject")
    await run.start(PAYMENT[1])
    first = await run.request()
    with contextlib.suppress(Exception):  # the run may report the serializer's refusal
        await run.resume(unstorable)
    assert await run.status() == "interrupted"
    assert (await run.request())["request_id"] == first["request_id"]
    assert run.executions() == []
    result = await run.resume("approve")
    assert result["status"] == "executed" and len(run.executions()) == 1
