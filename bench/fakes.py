"""The fake chat model and the sensitive tool every in-process benchmark shares.

`FakeToolModel` is deterministic and costs almost nothing, so what a benchmark measures is the
graph machinery around it: after a user message it proposes one `send_payment` call, after a
tool result it answers in text. `bind_tools` converts the tools to OpenAI tool schemas, as real
chat models do, so graphs that bind on every model call pay what they would in production.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool, tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.graph.state import CompiledStateGraph

from signoff.review.agent_context import AgentContext
from signoff.review.reviewed_agent import build_reviewed_agent

TOOL_NAME = "send_payment"
PAYMENT_ARGS: dict[str, Any] = {"amount": 5000, "target": "acct-9"}
USER_REQUEST = "pay 5000 to acct-9"


@tool
def send_payment(amount: float, target: str) -> str:
    """Send `amount` to account `target`; it cannot be taken back."""
    return f"sent {amount} to {target}"


class FakeToolModel(FakeMessagesListChatModel):
    """A chat model that proposes one `send_payment` call per user message, then answers.

    The tool-call id is derived from the conversation length, so it is unique on a thread and
    the same across runs (reviews and results are matched by call id).
    """

    responses: list[BaseMessage] = []

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        last = messages[-1]
        if isinstance(last, HumanMessage):
            call = {"name": TOOL_NAME, "args": dict(PAYMENT_ARGS), "id": f"call_{len(messages)}"}
            reply = AIMessage(content="", tool_calls=[call])
        elif isinstance(last, ToolMessage):
            reply = AIMessage(content=f"Done: {last.content}.")
        else:
            reply = AIMessage(content="Nothing to do.")
        return ChatResult(generations=[ChatGeneration(message=reply)])

    @property
    def _llm_type(self) -> str:
        return "fake-tool-model"

    def bind_tools(
        self, tools: Sequence[dict[str, Any] | type | Callable | BaseTool], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind `tools` as OpenAI tool schemas, like the real chat models do."""
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)


_BINDINGS: dict[tuple[int, tuple[str, ...]], Runnable[LanguageModelInput, AIMessage]] = {}
"""Bindings cached by `PreboundFakeToolModel` (outside the pydantic model: a private
attribute there would put pydantic's slow `__getattr__` on the measured path)."""


class PreboundFakeToolModel(FakeToolModel):
    """`FakeToolModel` whose `bind_tools` converts a given set of tools once and reuses it:
    what an agent that binds per call would cost if the binding were cached."""

    def bind_tools(
        self, tools: Sequence[dict[str, Any] | type | Callable | BaseTool], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind `tools` once per model and set of tool names (and no extra arguments)."""
        if kwargs:
            return super().bind_tools(tools, **kwargs)
        key = (id(self), tuple(t.name if isinstance(t, BaseTool) else repr(t) for t in tools))
        if key not in _BINDINGS:
            _BINDINGS[key] = super().bind_tools(tools)
        return _BINDINGS[key]


def user_input(text: str = USER_REQUEST) -> dict[str, Any]:
    """Agent input carrying one user message."""
    return {"messages": [HumanMessage(text)]}


def signoff_agent(
    model: FakeToolModel | None = None, name: str = "bench_signoff"
) -> CompiledStateGraph:
    """signoff's reviewed agent over the fake model, with `send_payment` in its policy."""
    fake = model or FakeToolModel()

    def load_model(_context: AgentContext) -> FakeToolModel:
        return fake

    return build_reviewed_agent(
        name=name,
        tools=[send_payment],
        policy={TOOL_NAME: ["approve", "edit", "reject", "respond"]},
        load_model=load_model,
    )
