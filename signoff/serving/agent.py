"""`SignoffAgent`: the MLflow `ResponsesAgent` adapter around one signoff graph.

It opens the graph and its checkpoint saver once, and for each request reads it
(`requests`, `approvals`), holds the thread (`thread_locks`), runs the graph (or first
finishes a run a dead worker left, `recovery`) and replies (`replies`). Each run records
the thread's graph (`graph_id`, its name in `signoff.graphs`), owner and viewers in its
checkpoints' metadata (`run_metadata`; a checkpoint store has no thread record beside the
checkpoints, so the latest checkpoint's metadata is the thread's, read by `thread_metadata`),
so `signoff.checkpoints` lists, shows and sweeps its threads. LangGraph keeps only text and
numbers in checkpoint metadata, so the viewers are kept as JSON text. The request and reply
contract is in the package docstring (`signoff.serving`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore
from langgraph.types import Command, StateSnapshot
from mlflow.pyfunc import ResponsesAgent
from mlflow.types.responses import (
    ResponsesAgentRequest,
    ResponsesAgentResponse,
    ResponsesAgentStreamEvent,
)

from signoff.databricks.checkpointer import checkpointer
from signoff.databricks.store import deployment_store
from signoff.governance.identity import Identity, caller_identity
from signoff.governance.visibility import (
    OWNER,
    VIEWERS,
    may_see,
    not_visible,
    user_principal,
    viewers_of,
)
from signoff.serving.approvals import NotAnswered
from signoff.serving.lease import NoLeases, leases_for
from signoff.serving.recovery import stopped_mid_run
from signoff.serving.replies import Reply, reply_for
from signoff.serving.requests import (
    answer_in,
    new_input,
    only_asks,
    resume_command,
    thread_id_in,
)
from signoff.serving.thread_locks import ThreadLocks
from signoff.standing.store import delegations_for

log = logging.getLogger("signoff.serving")

GraphSource = CompiledStateGraph | Callable[[], CompiledStateGraph]
"""A compiled graph, or a zero-argument builder of one (`signoff.graphs.GRAPHS` has these)."""


def deployed(
    source: GraphSource, saver: BaseCheckpointSaver, store: BaseStore | None
) -> CompiledStateGraph:
    """The graph of `source` (built, when it is a builder) with the deployment's checkpoint
    `saver` and `store` attached."""
    compiled = source if isinstance(source, Pregel) else source()
    return compiled.copy(update={"checkpointer": saver, "store": store})


GRAPH_ID = "graph_id"
ASSISTANT_ID = "assistant_id"


@dataclass(frozen=True)
class Turn:
    """What one request does to its thread, decided while the thread is held."""

    graph: CompiledStateGraph
    config: RunnableConfig
    graph_input: dict[str, Any] | Command | None = None
    """The new turn's input or the resume command; `None` runs a stopped run on."""
    runs: bool = True
    """`False`: nothing runs, the reply shows the thread as it is."""
    refusal: str | None = None
    """Why `mcp_approval_response` items were not applied (then nothing runs)."""
    held: StateSnapshot | None = None
    """The thread as read while it is held, for a turn that runs nothing."""

    def reply(self) -> Reply:
        """What the thread says now, with the refusal if there was one."""
        snapshot = self.held if not self.runs and self.held else self.graph.get_state(self.config)
        return reply_for(snapshot, self.graph.name, self.refusal)


class SignoffAgent(ResponsesAgent):
    """A signoff graph behind the Responses API, its threads kept by a checkpoint saver."""

    def __init__(self, graph: GraphSource, checkpointer: str | None = None) -> None:
        """Serve `graph` (compiled, or a builder); `checkpointer` as `SIGNOFF_CHECKPOINTER`."""
        self._source = graph
        self._setting = checkpointer
        self._stack = ExitStack()
        self._graph: CompiledStateGraph | None = None
        self._threads = ThreadLocks(NoLeases())
        self._lock = threading.Lock()

    def load_context(self, context: Any) -> None:
        """MLflow calls this when it loads the model: open the saver before any request."""
        self.open()

    def open(self) -> CompiledStateGraph:
        """Build the graph and open the saver and the store (standing grants and delegations
        live there), once; return the graph with both attached."""
        with self._lock:
            if self._graph is None:
                saver = self._stack.enter_context(checkpointer(self._setting))
                store = self._stack.enter_context(deployment_store(self._setting))
                self._threads = ThreadLocks(leases_for(saver))
                self._stack.callback(self._threads.close)
                self._graph = deployed(self._source, saver, store)
            return self._graph

    def close(self) -> None:
        """Close the saver; the next request opens it again."""
        with self._lock:
            self._stack.close()
            self._graph = None

    def __enter__(self) -> SignoffAgent:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # `ResponsesAgent.predict` (matched here exactly) is itself typed incompatibly with the
    # `PythonModel.predict(context, model_input, params)` it overrides: an MLflow typing gap.
    def predict(self, request: ResponsesAgentRequest) -> ResponsesAgentResponse:  # type: ignore[override]
        """Run one turn or one resume to its end or its next pause."""
        with self._turn(request) as turn:
            if turn.runs:
                turn.graph.invoke(turn.graph_input, turn.config)
            reply = turn.reply()
        # Validated as the constructor would: the items are dicts (MLflow's `create_*_item`
        # helpers return dicts), which the response's `list[OutputItem]` field converts.
        return ResponsesAgentResponse.model_validate(
            {"output": reply.items(), "custom_outputs": reply.custom_outputs}
        )

    # The same MLflow typing gap as `predict`'s.
    def predict_stream(  # type: ignore[override]
        self, request: ResponsesAgentRequest
    ) -> Generator[ResponsesAgentStreamEvent, None, None]:
        """Like `predict`, streaming the model's tokens, then one done event per output item;
        the last event has the custom outputs."""
        streamed: set[str] = set()
        with self._turn(request) as turn:
            if turn.runs:
                chunks = turn.graph.stream(turn.graph_input, turn.config, stream_mode="messages")
                for message, _ in chunks:
                    if isinstance(message, AIMessage) and message.id and message.text:
                        streamed.add(message.id)
                        yield _event(self.create_text_delta(str(message.text), message.id))
            reply = turn.reply()
        if reply.item_id not in streamed:
            for line in reply.text.splitlines(keepends=True):
                yield _event(self.create_text_delta(line, reply.item_id))
        *items, last = reply.items()
        for item in items:
            yield _event({"type": "response.output_item.done", "item": item})
        yield _event(
            {"type": "response.output_item.done", "item": last},
            custom_outputs=reply.custom_outputs,
        )

    def resume(self, decision: Any, thread_id: str) -> ResponsesAgentResponse:
        """Answer every pending approval of `thread_id` with `decision` (see `predict`)."""
        return self.predict(
            ResponsesAgentRequest(
                input=[], custom_inputs={"thread_id": thread_id, "decision": decision}
            )
        )

    @contextmanager
    def _turn(self, request: ResponsesAgentRequest) -> Iterator[Turn]:
        """Check `request` against its thread and hold the thread while the graph runs; a
        thread a dead worker left mid-run is run on instead (`recovery`)."""
        graph = self.open()
        answer = answer_in(request)
        thread_id = thread_id_in(request.custom_inputs or {}, answering=answer is not None)
        identity = caller_identity()
        configurable: dict[str, Any] = {"thread_id": thread_id}
        if identity is not None:
            configurable["langgraph_auth_user"] = identity.as_auth_user()
            configurable["langgraph_auth_user_id"] = identity.user
        with self._threads.hold(thread_id):
            snapshot = graph.get_state(RunnableConfig(configurable=configurable))
            config = RunnableConfig(
                configurable=configurable, metadata=_recorded(graph, identity, snapshot)
            )
            if stopped_mid_run(snapshot):
                log.warning("Thread %s: finishing the run a stopped worker left behind", thread_id)
                yield Turn(graph, config)  # the reply shows where that run ended
            elif answer is not None:
                store = graph.store
                delegations = delegations_for(store, identity.user) if identity and store else []
                try:
                    command = resume_command(answer, snapshot, thread_id, identity, delegations)
                    turn = Turn(graph, config, command)
                except NotAnswered as refused:  # the reply says why, the thread stays as it is
                    if not _sees(identity, snapshot):  # why, and nothing of what it waits for
                        raise PermissionError(str(refused)) from None
                    turn = Turn(graph, config, runs=False, refusal=str(refused), held=snapshot)
                yield turn
            elif only_asks(request) and snapshot.created_at is not None:
                if not _sees(identity, snapshot):
                    raise ValueError(not_visible(thread_id, identity))  # shows it to nobody else
                yield Turn(graph, config, runs=False, held=snapshot)
            else:
                yield Turn(graph, config, new_input(graph, request, snapshot, thread_id))


def _recorded(
    graph: CompiledStateGraph, identity: Identity | None, snapshot: StateSnapshot
) -> dict[str, Any]:
    """What the run records in the thread's checkpoints (`signoff.checkpoints.records`): its
    graph, owner and viewers, so that a `CheckpointApi` lists, shows and sweeps the thread."""
    thread = thread_metadata(snapshot.metadata or {})
    return run_metadata(graph.name, identity, thread, snapshot.values, _pending(snapshot))


def run_metadata(
    graph_id: str,
    identity: Identity | None,
    thread: Mapping[str, Any],
    values: Any,
    interrupts: list[dict[str, Any]],
    assistant_id: str | None = None,
) -> dict[str, Any]:
    """The metadata a run of graph `graph_id` by `identity` records on a thread whose metadata
    (`thread_metadata`), state `values` and pending `interrupts` are these: the graph and
    assistant, the owner (the first caller, kept), and the users who may see the thread
    (every user once seen stays, and so does the caller)."""
    users = {p for p in viewers_of(thread, values, interrupts) if p.startswith("user:")}
    owner = thread.get(OWNER) or (identity.user if identity else None)
    if identity is not None:
        users.add(user_principal(identity.user))
    recorded: dict[str, Any] = {
        GRAPH_ID: graph_id,
        ASSISTANT_ID: assistant_id or graph_id,
        VIEWERS: json.dumps(sorted(users)),
    }
    if owner:
        recorded[OWNER] = owner
    return recorded


def thread_metadata(stored: Mapping[str, Any], default_graph: str = "") -> dict[str, Any]:
    """A thread's metadata as the server's record has it, from its latest checkpoint's:
    `graph_id` (`default_graph` when no run recorded one) and `assistant_id`, the viewers as
    a list, and the rest as stored (without what LangGraph keeps for itself: source, step,
    parents, writes)."""
    metadata = {
        key: value
        for key, value in stored.items()
        if key not in ("source", "step", "parents", "writes", "thread_id", "checkpoint_ns")
        and not key.startswith("langgraph_")
    }
    viewers = metadata.get(VIEWERS)
    if isinstance(viewers, str):
        try:
            metadata[VIEWERS] = json.loads(viewers)
        except ValueError:
            metadata[VIEWERS] = []
    graph = str(metadata.get(GRAPH_ID) or default_graph)
    metadata[GRAPH_ID] = graph
    metadata[ASSISTANT_ID] = str(metadata.get(ASSISTANT_ID) or graph)
    return metadata


def _sees(identity: Identity | None, snapshot: StateSnapshot) -> bool:
    """Whether `identity` may see the thread of `snapshot` (`signoff.governance.visibility`):
    who may not is shown nothing of what it waits for."""
    return may_see(identity, viewers_of({}, snapshot.values, _pending(snapshot)))


def _pending(snapshot: StateSnapshot) -> list[dict[str, Any]]:
    """The interrupts `snapshot` waits on, as the server's `{"id", "value"}` records."""
    return [{"id": i.id, "value": i.value} for i in snapshot.interrupts]


def _event(data: dict[str, Any], **extra: Any) -> ResponsesAgentStreamEvent:
    return ResponsesAgentStreamEvent(**data, **extra)
