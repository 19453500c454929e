"""The chat model of the agents: `ChatDatabricks` on the endpoint named in the runtime context.

Offline, the endpoint is served by the local workspace emulator's rule-based development
model; with `DATABRICKS_HOST` set, by the real workspace. Same client either way.
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from signoff.agent_context import AgentContext
from signoff.workspace import workspace_client


def load_chat_model(context: AgentContext) -> BaseChatModel:
    """`ChatDatabricks` for `context.model_endpoint`, on the process's workspace client."""
    from databricks_langchain import ChatDatabricks  # slow to import: not at server start

    return ChatDatabricks(endpoint=context.model_endpoint, workspace_client=workspace_client())
