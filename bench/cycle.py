"""One approval cycle, in process: signoff's reviewed agent against the floor and langchain.

A cycle is: a user message, the model proposes one sensitive `send_payment` call, the run
pauses, the pause is approved (`Command(resume=...)`), the tool runs, the model answers. Every
variant runs on the same fake model (`bench.fakes`), the same tool and the same saver:

- `floor`: the least a hand-written graph needs, `call_model` and a `run_tools` node that calls
  `langgraph.types.interrupt()` before running the call (2 nodes);
- `floor, review node`: the floor with the pause in a node of its own before `run_tools`
  (3 nodes; signoff's reviewed agent had this shape, with Send, before its single-call path);
- `signoff`: `signoff.review.reviewed_agent.build_reviewed_agent` with the tool in its policy,
  whose rule is one group (`[policy.deciders] send_payment = ["managers"]`);
- `signoff, condition rule`: the same agent, the tool's rule the requirements of the shipped
  `approve_reject` rule (CEL conditions on the amount and target; a payment of 5,000 needs one
  manager). The settings files are `bench.policy`'s, switched between variants;
- `middleware`: langchain's `create_agent` with `HumanInTheLoopMiddleware` (batched mode).

Ablations price the structural choices: `floor, review node + Send` routes the call to its
review with `Send` and collects the decision in a reducer channel (signoff's fan-out shape for
sensitive calls), and `signoff, tools bound once` gives signoff a model whose `bind_tools`
result is cached (signoff binds the tools on every model call).

Variants run interleaved, round by round, in a rotating order; each round times a batch of
cycles per variant, on fresh threads. Ratios are the median of per-round ratios to `floor`
(paired, so load from other processes cancels out). Checkpoint writes per cycle count the
saver's `put` (checkpoints) and `put_writes` (task writes) calls.
"""

from __future__ import annotations

import cProfile
import gc
import operator
import pstats
import time
import timeit
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, ToolCall, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, Send, interrupt

from bench.fakes import (
    PAYMENT_ARGS,
    TOOL_NAME,
    FakeToolModel,
    PreboundFakeToolModel,
    send_payment,
    signoff_agent,
    user_input,
)
from bench.policy import PaymentContext, Policy, bench_policies, use_policy
from bench.report import Emit, Table, median, ms, quartiles
from bench.savers import SaverKind, WriteCount, count_writes, open_saver, with_postgres
from tests.in_process import REQUESTER, approver, as_user

APPROVE = {"decisions": [{"type": "approve"}]}
"""The resume value every variant gets: langchain's decision shape, which all three read."""
EXPECTED_RESULT = send_payment.invoke(dict(PAYMENT_ARGS))
TOOL_APPROVER = approver("tool_review")
"""Who approves the bench's tool calls: signoff's review node refuses anyone unidentified."""

FLOOR = "floor"
REVIEW_NODE = "floor, review node"
SEND = "floor, review node + Send"
SIGNOFF = "signoff"
CONDITIONS = "signoff, condition rule"
PREBOUND = "signoff, tools bound once"
MIDDLEWARE = "middleware"
MAIN_VARIANTS = (FLOOR, REVIEW_NODE, SIGNOFF, CONDITIONS, MIDDLEWARE)
ABLATIONS = (SEND, PREBOUND)
COSTS = (
    (FLOOR, REVIEW_NODE, "a pause in its own node: one more superstep and checkpoint"),
    (REVIEW_NODE, SEND, "Send fan-out of the call + a reducer channel collecting reviews"),
    (PREBOUND, SIGNOFF, "signoff's bind_tools on every model call"),
    (FLOOR, PREBOUND, "signoff apart from that binding"),
    (FLOOR, SIGNOFF, "signoff in all"),
    (SIGNOFF, CONDITIONS, "approve_reject's condition rule instead of one group"),
    (FLOOR, CONDITIONS, "signoff with the condition rule in all"),
)
"""(without, with, what the difference is): the costs the ablations isolate."""
ISSUE = {
    SIGNOFF: "issue: 1.30x mem / 1.23x pg, 6 puts; target <= 1.15x, <= 6",
    CONDITIONS: "issue 18: <= 1.15x",
    MIDDLEWARE: "issue: 1.40x mem / 1.34x pg, 7 puts",
}
CONDITIONS_AGENT = "bench_signoff_conditions"
"""The name of the `CONDITIONS` variant's graph: it runs under the `conditions` policy."""
CONDITIONS_REQUIREMENT = "one manager up to 10,000"
"""The requirement of the condition rule a payment of 5,000 falls under."""
CONTEXT = PaymentContext()
"""Every variant's run context: the reviewed agent's, with the thresholds the conditions read."""


@dataclass(frozen=True)
class CycleSettings:
    """How much to measure."""

    rounds: int = 40
    per_round: int = 10
    warmup: int = 5
    profile_cycles: int = 300
    savers: tuple[SaverKind, ...] = ("memory", "postgres")

    @classmethod
    def quick(cls) -> CycleSettings:
        """A run of a few seconds per saver."""
        return cls(rounds=12, per_round=5, warmup=3, profile_cycles=100)


class FloorState(TypedDict):
    """The conversation."""

    messages: Annotated[list[AnyMessage], add_messages]


class SendFloorState(FloorState):
    """The conversation and the ids of the approved calls (collected from Send tasks)."""

    approved: Annotated[list[str], operator.add]


class PendingCall(TypedDict):
    """The input of one Send review task."""

    tool_call: ToolCall


def _approved(answer: Any) -> bool:
    return answer["decisions"][0]["type"] == "approve"


def _run(call: ToolCall, by_name: dict[str, BaseTool]) -> ToolMessage:
    return by_name[call["name"]].invoke({**call, "type": "tool_call"})


def _refused(call: ToolCall) -> ToolMessage:
    return ToolMessage("rejected", tool_call_id=call["id"], status="error")


def _calls(state: FloorState) -> list[ToolCall]:
    last = state["messages"][-1]
    return last.tool_calls if isinstance(last, AIMessage) else []


def _route(target: str) -> Callable[[FloorState], str]:
    """A router: to `target` when the model proposed calls, else to the end."""

    def route(state: FloorState) -> str:
        return target if _calls(state) else END

    return route


def floor_graph(
    model: FakeToolModel,
    tools: Sequence[BaseTool],
    *,
    review_node: bool = False,
    send: bool = False,
) -> StateGraph:
    """A hand-written interrupt graph: the floor (2 nodes), or with a review node (3 nodes),
    optionally routing each call to it with `Send` as signoff does."""
    bound = model.bind_tools(list(tools))
    by_name = {tool.name: tool for tool in tools}

    def call_model(state: FloorState) -> dict[str, Any]:
        return {"messages": [bound.invoke(state["messages"])]}

    if not review_node:

        def run_tools(state: FloorState) -> dict[str, Any]:
            calls = _calls(state)
            ok = _approved(interrupt({"action_requests": calls}))
            return {"messages": [_run(c, by_name) if ok else _refused(c) for c in calls]}

        builder = StateGraph(FloorState)
        builder.add_node(call_model)
        builder.add_node(run_tools)
        builder.add_edge(START, "call_model")
        builder.add_conditional_edges("call_model", _route("run_tools"), ["run_tools", END])
        builder.add_edge("run_tools", "call_model")
        return builder

    if send:

        def route(state: SendFloorState) -> list[Send] | Literal["__end__"]:
            calls = _calls(state)
            return [Send("review", PendingCall(tool_call=c)) for c in calls] if calls else END

        def review(pending: PendingCall) -> dict[str, Any]:
            call = pending["tool_call"]
            ok = _approved(interrupt({"action_requests": [call]}))
            return {"approved": [call["id"]] if ok else []}

        def run_reviewed(state: SendFloorState) -> dict[str, Any]:
            done = set(state["approved"])
            calls = _calls(state)
            return {
                "messages": [_run(c, by_name) if c["id"] in done else _refused(c) for c in calls]
            }

        builder = StateGraph(SendFloorState)
        builder.add_node(call_model)
        builder.add_node(review)
        builder.add_node("run_tools", run_reviewed)
        builder.add_edge(START, "call_model")
        builder.add_conditional_edges("call_model", route, ["review", END])
        builder.add_edge("review", "run_tools")
        builder.add_edge("run_tools", "call_model")
        return builder

    def review_all(state: FloorState) -> Command[Literal["run_tools", "__end__"]]:
        ok = _approved(interrupt({"action_requests": _calls(state)}))
        return Command(goto="run_tools" if ok else END)

    def run_all(state: FloorState) -> dict[str, Any]:
        return {"messages": [_run(c, by_name) for c in _calls(state)]}

    builder = StateGraph(FloorState)
    builder.add_node(call_model)
    builder.add_node("review", review_all, destinations=("run_tools", END))
    builder.add_node("run_tools", run_all)
    builder.add_edge(START, "call_model")
    builder.add_conditional_edges("call_model", _route("review"), ["review", END])
    builder.add_edge("run_tools", "call_model")
    return builder


def middleware_agent(model: FakeToolModel, saver: BaseCheckpointSaver) -> CompiledStateGraph:
    """langchain's `create_agent` with `HumanInTheLoopMiddleware` on the sensitive tool."""
    from langchain.agents import create_agent
    from langchain.agents.middleware import HumanInTheLoopMiddleware

    return create_agent(
        model,
        tools=[send_payment],
        middleware=[HumanInTheLoopMiddleware(interrupt_on={TOOL_NAME: True})],
        checkpointer=saver,
    )


def build_variants(saver: BaseCheckpointSaver) -> dict[str, CompiledStateGraph]:
    """Every variant, compiled on `saver`."""
    model, tools = FakeToolModel(), [send_payment]
    with_saver = {"checkpointer": saver}
    return {
        FLOOR: floor_graph(model, tools).compile(checkpointer=saver),
        REVIEW_NODE: floor_graph(model, tools, review_node=True).compile(checkpointer=saver),
        SEND: floor_graph(model, tools, review_node=True, send=True).compile(checkpointer=saver),
        SIGNOFF: signoff_agent(model).copy(update=with_saver),
        CONDITIONS: signoff_agent(model, CONDITIONS_AGENT).copy(update=with_saver),
        PREBOUND: signoff_agent(PreboundFakeToolModel()).copy(update=with_saver),
        MIDDLEWARE: middleware_agent(model, saver),
    }


def policy_of(graph: CompiledStateGraph) -> Policy:
    """The settings `graph` runs under: the condition rule for its variant, else one group."""
    return "conditions" if graph.name == CONDITIONS_AGENT else "legacy"


def run_cycle(graph: CompiledStateGraph) -> None:
    """One approval cycle on a fresh thread; raises if it did not pause, run and answer."""
    use_policy(policy_of(graph))  # a no-op unless the previous cycle ran under the other
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    paused = graph.invoke(user_input(), as_user(config, REQUESTER), context=CONTEXT)
    if not paused.get("__interrupt__"):
        raise RuntimeError(f"{graph.name}: the run did not pause: {paused}")
    if graph.name == CONDITIONS_AGENT:
        need = paused["__interrupt__"][0].value.get("need") or {}
        if need.get("requirement") != CONDITIONS_REQUIREMENT:
            raise RuntimeError(f"{graph.name}: paused under {need!r}, not the condition rule")
    done = graph.invoke(Command(resume=APPROVE), as_user(config, TOOL_APPROVER), context=CONTEXT)
    answer = done["messages"][-1]
    tool_results = [m for m in done["messages"] if isinstance(m, ToolMessage)]
    if not str(answer.content).startswith("Done") or not tool_results:
        raise RuntimeError(f"{graph.name}: the tool did not run or no answer: {answer!r}")
    if tool_results[-1].content != EXPECTED_RESULT:
        raise RuntimeError(f"{graph.name}: unexpected tool result {tool_results[-1]!r}")


def time_rounds(
    graphs: dict[str, CompiledStateGraph], rounds: int, per_round: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall-clock and process CPU seconds per cycle for each variant, one figure per round,
    variants interleaved in a rotating order."""
    names = list(graphs)
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        gc.collect()
        order = names[index % len(names) :] + names[: index % len(names)]
        for name in order:
            graph = graphs[name]
            use_policy(policy_of(graph))  # switching settings reloads them: not timed
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(per_round):
                run_cycle(graph)
            wall[name].append((time.perf_counter() - start) / per_round)
            cpu[name].append((time.process_time() - start_cpu) / per_round)
    return wall, cpu


def paired_ratios(times: dict[str, list[float]], name: str, base: str = FLOOR) -> list[float]:
    """Per-round ratios of `name` to `base`."""
    return [value / floor for value, floor in zip(times[name], times[base], strict=True)]


@dataclass
class SaverResult:
    """Timings and write counts of every variant on one saver."""

    kind: SaverKind
    wall: dict[str, list[float]]
    cpu: dict[str, list[float]]
    writes: dict[str, WriteCount]
    calls: dict[str, float]

    def per_cycle(self, name: str) -> float:
        """Median wall-clock seconds per cycle."""
        return median(self.wall[name])

    def ratio(self, name: str) -> float:
        """Median paired wall-clock ratio to the floor."""
        return median(paired_ratios(self.wall, name))


def measure_saver(kind: SaverKind, url: str | None, settings: CycleSettings) -> SaverResult:
    """Time and count every variant on one saver."""
    with open_saver(kind, url) as saver:
        counts = count_writes(saver)
        graphs = build_variants(saver)
        writes: dict[str, WriteCount] = {}
        for name, graph in graphs.items():
            for _ in range(settings.warmup):
                run_cycle(graph)
            counts.reset()
            run_cycle(graph)
            writes[name] = WriteCount(counts.put, counts.put_writes)
        calls = {name: function_calls(graph, 3) for name, graph in graphs.items()}
        wall, cpu = time_rounds(graphs, settings.rounds, settings.per_round)
    return SaverResult(kind, wall, cpu, writes, calls)


def function_calls(graph: CompiledStateGraph, cycles: int) -> float:
    """Python function calls per cycle in this thread: a measure of work that other
    processes' load cannot disturb."""
    return _profile(graph, cycles).total_calls / cycles  # type: ignore[attr-defined]


def cycle_table(result: SaverResult, settings: CycleSettings) -> Table:
    """The main comparison on one saver."""
    table = Table(
        f"Approval cycle, in process, on {result.kind}",
        [
            "variant",
            "time/cycle",
            "vs floor",
            "ratio IQR",
            "best vs best",
            "CPU vs floor",
            "fn calls",
            "put",
            "put_writes",
            "reference",
        ],
    )
    best_floor = min(result.wall[FLOOR])
    for name in (*MAIN_VARIANTS, *ABLATIONS):
        ratios = paired_ratios(result.wall, name)
        low, high = quartiles(ratios)
        writes = result.writes[name]
        reference = ISSUE.get(name, "ablation" if name in ABLATIONS else "")
        table.add(
            name,
            ms(result.per_cycle(name)),
            f"{median(ratios):.2f}x",
            f"{low:.2f}-{high:.2f}",
            f"{min(result.wall[name]) / best_floor:.2f}x",
            f"{median(paired_ratios(result.cpu, name)):.2f}x",
            f"{result.calls[name] / result.calls[FLOOR]:.2f}x",
            writes.put,
            writes.put_writes,
            reference,
        )
    table.note(
        f"{settings.rounds} rounds x {settings.per_round} cycles per variant, interleaved. "
        "time = median of per-round wall seconds/cycle; vs floor = median of per-round wall "
        "ratios (IQR beside it); best vs best = fastest round / floor's fastest round; CPU = "
        "this process's CPU time (all its threads; not the database server's); fn calls = "
        "Python function calls per cycle in the calling thread, vs floor (deterministic)."
    )
    table.note(
        "put = checkpoints stored per cycle (the issue's 'writes'); put_writes = task write "
        "batches per cycle."
    )
    by_rule = paired_ratios(result.wall, CONDITIONS, SIGNOFF)
    low, high = quartiles(by_rule)
    table.note(
        f"{CONDITIONS} vs {SIGNOFF} (approve_reject's condition rule vs one group): "
        f"{median(by_rule):.2f}x (IQR {low:.2f}-{high:.2f})."
    )
    return table


def costs_table(results: list[SaverResult]) -> Table:
    """What each structural choice costs, from the ablations, per saver."""
    columns = ["difference", "variants"]
    for result in results:
        columns += [f"{result.kind} +ms", f"{result.kind} +% floor"]
    columns.append("+fn calls % floor")
    table = Table("Approval cycle: what costs what (differences between variants)", columns)
    for without, with_, what in COSTS:
        row: list[str | float | None] = [what, f"{with_} - {without}"]
        for result in results:
            step = result.ratio(with_) - result.ratio(without)
            row += [f"{step * result.per_cycle(FLOOR) * 1000:+.3f}", f"{step * 100:+.1f}"]
        calls = results[0].calls if results else {}
        extra = (calls[with_] - calls[without]) / calls[FLOOR] * 100 if calls else None
        row.append(f"{extra:+.1f}" if extra is not None else "-")
        table.add(*row)
    table.note(
        "Each difference = the two variants' median paired ratios to the floor, subtracted (in "
        "% of the floor, and in ms at the floor's median cycle time); fn calls (deterministic) "
        "are counted in the calling thread."
    )
    return table


Matcher = Callable[[tuple[str, int, str]], bool]


def _function(path_suffix: str, name: str) -> Matcher:
    return lambda key: key[0].endswith(path_suffix) and key[2] == name


PROFILE_ROWS: list[tuple[str, Matcher]] = [
    ("call_model node (signoff / floor)", _function("reviewed_agent.py", "call_model")),
    (
        "  bind_tools -> convert_to_openai_tool",
        _function("function_calling.py", "convert_to_openai_tool"),
    ),  # noqa: E501
    ("review_tool_call node", _function("reviewed_agent.py", "review_tool_call")),
    ("  ask_for_decisions", _function("review/ask.py", "ask_for_decisions")),
    ("    build_request (incl. digest)", _function("protocol/shapes.py", "build_request")),
    ("      args_digest (json + sha256)", _function("protocol/shapes.py", "args_digest")),
    ("    parse_answer", _function("protocol/parsing.py", "parse_answer")),
    ("    check_bounds", _function("protocol/bounds.py", "check_bounds")),
    ("    audit.signed (HMAC)", _function("signoff/governance/audit.py", "signed")),
    ("    interrupt()", _function("langgraph/types.py", "interrupt")),
    ("route_tool_calls (Send list)", _function("reviewed_agent.py", "route_tool_calls")),
    ("Send task preparation", _function("pregel/_algo.py", "prepare_push_task_send")),
    ("run_tools node", _function("reviewed_agent.py", "run_tools")),
    ("  tool.invoke", _function("langchain_core/tools/base.py", "invoke")),
    ("writes applied to channels", _function("pregel/_algo.py", "apply_writes")),
    ("checkpoint serialization (this thread)", _function("serde/jsonplus.py", "dumps_typed")),
]
FLOOR_EQUIVALENTS: dict[str, Matcher] = {
    "call_model node (signoff / floor)": _function("bench/cycle.py", "call_model"),
    "run_tools node": _function("bench/cycle.py", "run_tools"),
}


def _profile(graph: CompiledStateGraph, cycles: int) -> pstats.Stats:
    use_policy(policy_of(graph))  # a switch reloads the settings: not profiled
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(cycles):
        run_cycle(graph)
    profiler.disable()
    return pstats.Stats(profiler)


def _cumulative(stats: pstats.Stats, match: Matcher, cycles: int) -> tuple[float, float]:
    """Cumulative seconds and calls per cycle of the functions `match` selects (outermost
    frames only: a recursive or nested match is not counted twice)."""
    entries = stats.stats  # type: ignore[attr-defined]
    keys = [key for key in entries if match(key)]
    seconds = sum(entries[key][3] for key in keys)
    calls = sum(entries[key][1] for key in keys)
    return seconds / cycles, calls / cycles


def profile_table(cycles: int) -> Table:
    """cProfile of signoff's cycle next to the floor's, on the in-memory saver."""
    with open_saver("memory") as saver:
        graphs = build_variants(saver)
        for name in (SIGNOFF, FLOOR):
            for _ in range(5):
                run_cycle(graphs[name])
        signoff_stats = _profile(graphs[SIGNOFF], cycles)
        floor_stats = _profile(graphs[FLOOR], cycles)
        start = time.perf_counter()
        for _ in range(cycles):
            run_cycle(graphs[SIGNOFF])
        unprofiled = (time.perf_counter() - start) / cycles
    total_signoff = signoff_stats.total_tt / cycles  # type: ignore[attr-defined]
    total_floor = floor_stats.total_tt / cycles  # type: ignore[attr-defined]
    calls_signoff = signoff_stats.total_calls / cycles  # type: ignore[attr-defined]
    calls_floor = floor_stats.total_calls / cycles  # type: ignore[attr-defined]
    table = Table(
        "Where signoff's cycle time goes (cProfile, in memory, per cycle)",
        ["contributor", "signoff", "calls", "floor", "signoff - floor", "share of signoff"],
    )
    table.add(
        "whole cycle (main thread)",
        ms(total_signoff),
        f"{calls_signoff:,.0f} fn calls",
        ms(total_floor),
        ms(total_signoff - total_floor),
        "100%",
    )
    for label, match in PROFILE_ROWS:
        seconds, calls = _cumulative(signoff_stats, match, cycles)
        floor_match = FLOOR_EQUIVALENTS.get(label, match)
        floor_seconds, _ = _cumulative(floor_stats, floor_match, cycles)
        if not calls and not floor_seconds:
            continue
        table.add(
            label,
            ms(seconds),
            f"{calls:g}",
            ms(floor_seconds),
            ms(seconds - floor_seconds),
            f"{seconds / total_signoff * 100:.1f}%",
        )
    table.note(
        f"{cycles} cycles each under cProfile; cumulative wall times per cycle, of the calling "
        "thread only (langgraph stores checkpoints on a background thread). cProfile inflates code "
        f"that makes many small calls: signoff's cycle takes {unprofiled * 1000:.2f} ms "
        f"unprofiled here, {total_signoff / unprofiled:.1f}x less. The floor makes "
        f"{calls_floor:,.0f} function calls per cycle."
    )
    return table


def _package(filename: str) -> str:
    """The package a profiled function belongs to."""
    if filename == "~":
        return "built-ins (C)"
    if "site-packages/" in filename:
        top = filename.split("site-packages/", 1)[1].split("/", 1)[0]
        return top.removesuffix(".py")
    for local in ("signoff", "bench"):
        if f"/{local}/" in filename:
            return local
    return "stdlib"


def calls_table(cycles: int) -> Table:
    """Python function calls per cycle by package, for each variant (deterministic)."""
    with open_saver("memory") as saver:
        graphs = build_variants(saver)
        order = (FLOOR, REVIEW_NODE, SEND, PREBOUND, SIGNOFF, CONDITIONS, MIDDLEWARE)
        counts: dict[str, Counter[str]] = {}
        for name in order:
            for _ in range(3):
                run_cycle(graphs[name])
            stats = _profile(graphs[name], cycles)
            counts[name] = Counter()
            for key, entry in stats.stats.items():  # type: ignore[attr-defined]
                counts[name][_package(key[0])] += entry[1] / cycles
    packages = sorted(
        set().union(*counts.values()), key=lambda p: -max(c[p] for c in counts.values())
    )
    table = Table(
        "Python function calls per cycle by package (in memory, calling thread)",
        ["package", *order],
    )
    for package in packages:
        if max(c[package] for c in counts.values()) >= 5:
            table.add(package, *(round(counts[name][package]) for name in order))
    table.add("total", *(round(sum(counts[name].values())) for name in order))
    table.note(
        "Deterministic: counts do not depend on machine load. bench = the fake model, tool and "
        "floor graphs; checkpoint writes run on a background thread and are not counted."
    )
    return table


def protocol_table(repeat: int) -> Table:
    """Microseconds per call of signoff's approval-protocol helpers, outside any graph."""
    from signoff.governance.audit import signed, trail_problem
    from signoff.protocol.parsing import parse_answer
    from signoff.protocol.shapes import ActionRequest, args_digest, build_request

    actions = [ActionRequest(name=TOOL_NAME, args=dict(PAYMENT_ARGS), description="pay")]
    table = Table(
        "signoff approval helpers, outside a graph (microseconds per call)",
        ["helper", "us/call", "per cycle"],
    )

    def request() -> Any:
        return build_request(
            actions,
            [["approve", "reject"]],
            request_id="r",
            stage="review",
            requested_by="a",
            decided_by=["managers"],
            deadlines={"created_at": "2026-11-21T09:00:00.000+00:00"},
        )

    try:
        built = request()
        parse_answer(APPROVE, built)
        entry = {"decision": "approve", "reviewer": "bob", "args_before": dict(PAYMENT_ARGS)}
        signed_one = signed([entry], [], "t")  # type: ignore[list-item]
        helpers: list[tuple[str, Callable[[], Any], int]] = [
            ("build_request", request, 2),
            ("args_digest", lambda: args_digest(actions, "r", "review"), 2),
            ("uuid5 request id", lambda: uuid.uuid5(uuid.NAMESPACE_URL, "t/ns/call_1"), 2),
            ("parse_answer(decisions)", lambda: parse_answer(APPROVE, built), 1),
            ("parse_answer('approve')", lambda: parse_answer("approve", built), 0),
            ("sign one audit entry", lambda: signed(signed_one, [], "t"), 1),
            ("trail_problem (1 entry)", lambda: trail_problem(signed_one, "t"), 1),
        ]
    except Exception as error:  # noqa: BLE001 - the protocol is being edited; report, go on
        table.note(f"not measured: the helpers' API changed ({type(error).__name__}: {error})")
        return table
    for name, helper, per_cycle in helpers:
        seconds = min(timeit.repeat(helper, number=repeat, repeat=5)) / repeat
        table.add(name, f"{seconds * 1e6:.1f}", f"x{per_cycle}")
    table.note("'per cycle' = calls in one pause + approve cycle (the node runs twice).")
    return table


def run(settings: CycleSettings, emit: Emit) -> None:
    """Every table of the in-process approval-cycle benchmark, passed to `emit` as ready."""
    with bench_policies():
        _all_tables(settings, emit)


def _all_tables(settings: CycleSettings, emit: Emit) -> None:
    skipped: list[str] = []
    results: list[SaverResult] = []
    for kind, url in with_postgres(list(settings.savers), skipped.append):
        result = measure_saver(kind, url, settings)
        results.append(result)
        emit(cycle_table(result, settings))
    costs = costs_table(results)
    for reason in skipped:
        costs.note(reason)
    emit(costs)
    emit(profile_table(settings.profile_cycles))
    emit(calls_table(10))
    emit(protocol_table(2000))
