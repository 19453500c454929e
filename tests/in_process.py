"""In-process harness: graphs on an in-memory saver, a scripted model and a counting tool.

`Thread` drives one thread of a compiled graph the way a client drives the server: start it
(as `REQUESTER`), read the pending request, answer it (as an approver the policy allows: one
per stage, in every group), and see how it ended. `reviewed_refund_agent()` is the
agents' reviewed tool loop (`signoff.review.reviewed_agent`) over a scripted model that proposes one
refund, and a refund tool that counts its executions, so the review node is exercised without
a workspace.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from signoff.execution.ledger import read_entries
from signoff.governance.identity import Identity
from signoff.graphs import GRAPHS
from signoff.review.reviewed_agent import build_reviewed_agent
from signoff.settings import load_settings
from tests.dev_users import GROUPS, decider_for, user_name

REFUND = "issue_refund"
REFUND_AGENT = "refund_agent"


class ScriptedModel(BaseChatModel):
    """Proposes `calls` refund calls of `amount` in one message (default one); once tool
    results are in, answers with the last of them."""

    calls: int = 1
    amount: float = 25.0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedModel:
        """Tools are known in advance; binding changes nothing."""
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            reply = AIMessage(content=f"Done: {last.content}", id=str(uuid.uuid4()))
        else:
            calls = [
                {
                    "name": REFUND,
                    "args": {"order_id": 17 + number, "amount": self.amount, "reason": "damaged"},
                    "id": f"call_{uuid.uuid4().hex[:12]}",
                }
                for number in range(self.calls)
            ]
            reply = AIMessage(content="", tool_calls=calls, id=str(uuid.uuid4()))
        return ChatResult(generations=[ChatGeneration(message=reply)])


@dataclass
class RefundDesk:
    """A refund tool that records every execution instead of moving money."""

    executed: list[dict[str, Any]] = field(default_factory=list)

    def tool(self) -> BaseTool:
        """The `issue_refund` tool bound to this desk."""

        @tool(REFUND)
        def issue_refund(order_id: int, amount: float, reason: str) -> str:
            """Refund part or all of an order. Moves money: irreversible."""
            self.executed.append({"order_id": order_id, "amount": amount, "reason": reason})
            return f"Refund of {amount:.2f} issued for order {order_id}."

        return issue_refund


def reviewed_refund_agent(
    desk: RefundDesk, model: BaseChatModel | None = None
) -> CompiledStateGraph:
    """The reviewed tool loop with `issue_refund` sensitive (all four decisions allowed), on
    `model` (default: a `ScriptedModel`)."""
    return build_reviewed_agent(
        name=REFUND_AGENT,
        tools=[desk.tool()],
        policy={REFUND: ["approve", "edit", "reject", "respond"]},
        load_model=lambda _context: model or ScriptedModel(),
    )


REQUESTER = Identity("requester@signoff.local", frozenset({"users"}))


def approver(stage: str) -> Identity:
    """An identity in every group the policy names, one per stage (nobody decides two)."""
    settings = load_settings()
    groups = frozenset().union(*settings.deciders.values(), settings.admins)
    return Identity(f"approver-{stage}@signoff.local", groups)


def as_user(config: dict[str, Any], identity: Identity | None) -> dict[str, Any]:
    """`config` for a run started by `identity`, as the server's auth sets it."""
    user = identity.as_auth_user() if identity else None
    return {**config, "configurable": {**config["configurable"], "langgraph_auth_user": user}}


class Thread:
    """One thread of `graph` on its own in-memory saver."""

    def __init__(self, graph: CompiledStateGraph, saver: InMemorySaver | None = None) -> None:
        self.graph = graph.copy(update={"checkpointer": saver or InMemorySaver()})
        self.config: dict[str, Any] = {"configurable": {"thread_id": str(uuid.uuid4())}}

    def as_user(self, identity: Identity | None) -> dict[str, Any]:
        """The thread's config for a run started by `identity`."""
        return as_user(self.config, identity)

    def start(self, payload: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Run the graph on `payload`, as `REQUESTER`, until it ends or pauses."""
        return self.graph.invoke(payload, self.as_user(REQUESTER), context=context or None)

    def answer(self, answer: Any, identity: Identity | None = None) -> dict[str, Any]:
        """Resume every pending interrupt with `answer`, as `identity` (default: an approver
        of the pending stage)."""
        return self.graph.invoke(Command(resume=answer), self._answering(identity))

    def answer_first(self, answer: Any) -> dict[str, Any]:
        """Answer only the first pending interrupt, by its id (the others keep waiting)."""
        first = self.graph.get_state(self.config).interrupts[0]
        return self.graph.invoke(Command(resume={first.id: answer}), self._answering(None))

    def answer_each(self, answer: Any) -> dict[str, Any]:
        """Answer every pending interrupt with `answer`, by id."""
        pending = self.graph.get_state(self.config).interrupts
        resume = Command(resume={i.id: answer for i in pending})
        return self.graph.invoke(resume, self._answering(None))

    def _answering(self, identity: Identity | None) -> dict[str, Any]:
        if identity is None:
            pending = self.pending()
            identity = approver(pending[0]["stage"] if pending else "none")
        return self.as_user(identity)

    def pending(self) -> list[dict[str, Any]]:
        """The values of the interrupts the thread waits on."""
        return [interrupt.value for interrupt in self.graph.get_state(self.config).interrupts]

    def request(self) -> dict[str, Any]:
        """The single pending request (asserts there is exactly one)."""
        pending = self.pending()
        assert len(pending) == 1, pending
        return pending[0]

    def values(self) -> dict[str, Any]:
        """The thread's state values."""
        return self.graph.get_state(self.config).values

    @property
    def thread_id(self) -> str:
        """The thread's id."""
        return self.config["configurable"]["thread_id"]


def dev_identity(name: str) -> Identity:
    """Development user `name` (alice, bob, ...) as the server's auth would resolve them."""
    full = user_name(name)
    return Identity(full, frozenset(GROUPS[full]))


class LocalFlow:
    """The server tests' `Flow`, in process: one thread of a graph on an in-memory saver,
    started by alice and answered by a development user the policy allows (or `as_user`).

    `graph` is a name of `graphs.GRAPHS` without a workspace (the single-action graphs), or
    `REFUND_AGENT`: the reviewed tool loop over the scripted model and a counting refund tool.
    Executions are the ledger entries of the thread (or the refunds the tool made)."""

    def __init__(self, graph: str) -> None:
        self.desk = RefundDesk()
        compiled = reviewed_refund_agent(self.desk) if graph == REFUND_AGENT else GRAPHS[graph]()
        self.thread = Thread(compiled)
        self.thread_id = self.thread.thread_id
        self.tag = uuid.uuid4().hex
        self.context: Any = None

    async def start(self, payload: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """Run the graph on `payload` as alice, with runtime `context` (kept for the resumes,
        as a server's assistant keeps it), until it ends or pauses; the state values."""
        self.context = context
        config = self.thread.as_user(dev_identity("alice"))
        return await self.thread.graph.ainvoke(payload, config, context=context)

    async def resume(self, answer: Any, as_user: str | None = None) -> dict[str, Any]:
        """Answer the pending interrupt(s) with `answer` as development user `as_user`, by
        default one the policy allows to decide them."""
        if as_user is None:
            pending = self.thread.pending()
            as_user = decider_for(pending[0]) if pending else "bob"
        config = self.thread.as_user(dev_identity(as_user))
        return await self.thread.graph.ainvoke(Command(resume=answer), config, context=self.context)

    async def status(self) -> str:
        """`interrupted` while a request waits, else `idle`."""
        return "interrupted" if self.thread.pending() else "idle"

    async def pending(self) -> list[dict[str, Any]]:
        """Every interrupt the thread waits on, as `{"id", "value", "response_schema"}`."""
        interrupts = self.thread.graph.get_state(self.thread.config).interrupts
        return [
            {"id": i.id, "value": i.value, "response_schema": i.response_schema} for i in interrupts
        ]

    async def request(self) -> dict[str, Any]:
        """The single pending request (asserts there is exactly one)."""
        return self.thread.request()

    async def values(self) -> dict[str, Any]:
        """The thread's state values."""
        return self.thread.values()

    def executions(self) -> list[dict[str, Any]]:
        """Ledger entries of this thread, and refunds the refund tool made."""
        ledger = [e for e in read_entries() if e["thread_id"] == self.thread_id]
        return ledger + self.desk.executed
