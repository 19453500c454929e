"""The chat model of the agents: `ChatDatabricks` on the endpoint named in the runtime context.

Offline, the endpoint is served by the local workspace emulator's rule-based development
model; with `DATABRICKS_HOST` set, by the real workspace. Same client either way.
"""

from __future__ import annotations

from functools import cache
from typing import Protocol

from langchain_core.language_models import BaseChatModel

from signoff.databricks.workspace import workspace_client


class ModelContext(Protocol):
    """What choosing the model reads of a runtime context (`signoff.review.agent_context`)."""

    @property
    def model_endpoint(self) -> str:
        """The Databricks model serving endpoint of the chat model."""


def load_chat_model(context: ModelContext) -> BaseChatModel:
    """`ChatDatabricks` for `context.model_endpoint`, on the process's workspace client: one
    per endpoint, so its client and its tool binding are made once."""
    return _chat_model(context.model_endpoint)


@cache
def _chat_model(endpoint: str) -> BaseChatModel:
    from databricks_langchain import ChatDatabricks  # slow to import: not at server start

    return ChatDatabricks(endpoint=endpoint, workspace_client=workspace_client())
