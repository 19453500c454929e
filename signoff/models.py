"""Chat model selection for agents, by the name in their runtime context."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from signoff.scripted_model import ScriptedChatModel
from signoff.tool_review import AgentContext


def load_chat_model(context: AgentContext) -> BaseChatModel:
    """The chat model named by `context.model`."""
    if context.model == "scripted":
        return ScriptedChatModel()
    raise ValueError(f"unknown model {context.model!r}; available: 'scripted'")
