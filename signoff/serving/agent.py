"""`SignoffAgent`: the MLflow `ResponsesAgent` adapter around one signoff graph.

It opens the graph and its checkpoint saver once, and for each request reads it
(`requests`), holds the thread (`thread_locks`), runs the graph (or first finishes a run a
dead worker left, `recovery`) and replies (`replies`). The request and reply contract is in
the package docstring (`signoff.serving`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.pregel import Pregel
from langgraph.types import Command
from mlflow.pyfunc import ResponsesAgent
from mlflow.types.responses import (
    ResponsesAgentRequest,
    ResponsesAgentResponse,
    ResponsesAgentStreamEvent,
)

from signoff.databricks.checkpointer import checkpointer
from signoff.databricks.store import deployment_store
from signoff.governance.identity import caller_identity
from signoff.serving.lease import NoLeases, leases_for
from signoff.serving.recovery import stopped_mid_run
from signoff.serving.replies import reply_for
from signoff.serving.requests import answer_in, new_input, resume_command, thread_id_in
from signoff.serving.thread_locks import ThreadLocks

log = logging.getLogger("signoff.serving")

GraphSource = CompiledStateGraph | Callable[[], CompiledStateGraph]
Turn = tuple[CompiledStateGraph, dict[str, Any] | Command | None, RunnableConfig]


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
        with self._turn(request) as (graph, graph_input, config):
            graph.invoke(graph_input, config)
            reply = reply_for(graph.get_state(config))
        # Validated as the constructor would: the item is a dict (MLflow's `create_*_item`
        # helpers return dicts), which the response's `list[OutputItem]` field converts.
        return ResponsesAgentResponse.model_validate(
            {"output": [reply.item()], "custom_outputs": reply.custom_outputs}
        )

    # The same MLflow typing gap as `predict`'s.
    def predict_stream(  # type: ignore[override]
        self, request: ResponsesAgentRequest
    ) -> Generator[ResponsesAgentStreamEvent, None, None]:
        """Like `predict`, streaming the model's tokens; the last event has the custom outputs."""
        streamed: set[str] = set()
        with self._turn(request) as (graph, graph_input, config):
            for message, _ in graph.stream(graph_input, config, stream_mode="messages"):
                if isinstance(message, AIMessage) and message.id and message.text:
                    streamed.add(message.id)
                    yield _event(self.create_text_delta(str(message.text), message.id))
            reply = reply_for(graph.get_state(config))
        if reply.item_id not in streamed:
            for line in reply.text.splitlines(keepends=True):
                yield _event(self.create_text_delta(line, reply.item_id))
        yield _event(
            {"type": "response.output_item.done", "item": reply.item()},
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
        inputs = request.custom_inputs or {}
        answer = answer_in(inputs)
        thread_id = thread_id_in(inputs, answering=answer is not None)
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
                yield graph, None, config  # the reply shows where that run ended
            elif answer is not None:
                yield graph, resume_command(answer, snapshot, thread_id, identity), config
            else:
                yield graph, new_input(graph, request, snapshot, thread_id), config


def _event(data: dict[str, Any], **extra: Any) -> ResponsesAgentStreamEvent:
    return ResponsesAgentStreamEvent(**data, **extra)
