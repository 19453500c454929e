"""`SignoffAgent`: the MLflow `ResponsesAgent` adapter around one signoff graph.

It opens the graph and its checkpoint saver once, and for each request reads it
(`requests`, `approvals`), holds the thread (`thread_locks`), runs the graph (or first
finishes a run a dead worker left, `recovery`) and replies (`replies`). The request and reply
contract is in the package docstring (`signoff.serving`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.pregel import Pregel
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
from signoff.governance.visibility import may_see, not_visible, viewers_of
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

    def reply(self) -> Reply:
        """What the thread says now, with the refusal if there was one."""
        return reply_for(self.graph.get_state(self.config), self.graph.name, self.refusal)


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
                source = self._source
                compiled = source if isinstance(source, Pregel) else source()
                saver = self._stack.enter_context(checkpointer(self._setting))
                store = self._stack.enter_context(deployment_store(self._setting))
                self._threads = ThreadLocks(leases_for(saver))
                self._stack.callback(self._threads.close)
                self._graph = compiled.copy(update={"checkpointer": saver, "store": store})
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
        config = RunnableConfig(configurable=configurable)
        with self._threads.hold(thread_id):
            snapshot = graph.get_state(config)
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
                    turn = Turn(graph, config, runs=False, refusal=str(refused))
                yield turn
            elif snapshot.interrupts and only_asks(request):
                if not _sees(identity, snapshot):
                    raise ValueError(not_visible(thread_id, identity))  # shows it to nobody else
                yield Turn(graph, config, runs=False)
            else:
                yield Turn(graph, config, new_input(graph, request, snapshot, thread_id))


def _sees(identity: Identity | None, snapshot: StateSnapshot) -> bool:
    """Whether `identity` may see the thread of `snapshot` (`signoff.governance.visibility`):
    who may not is shown nothing of what it waits for."""
    pending = [{"id": i.id, "value": i.value} for i in snapshot.interrupts]
    return may_see(identity, viewers_of({}, snapshot.values, pending))


def _event(data: dict[str, Any], **extra: Any) -> ResponsesAgentStreamEvent:
    return ResponsesAgentStreamEvent(**data, **extra)
