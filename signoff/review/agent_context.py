"""The runtime context of the agents: which model endpoint, which system prompt.

Editable per assistant in Studio (and set only by admins, `signoff.server.auth`); the chat model
(`signoff.databricks.models`) and the reviewed agent (`signoff.review.reviewed_agent`) read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from signoff.governance.deadlines import DeadlineOverrides
from signoff.settings import load_settings


@dataclass(kw_only=True)
class AgentContext(DeadlineOverrides):
    """Runtime settings of an agent, editable per assistant in Studio."""

    model_endpoint: str = field(
        default_factory=lambda: load_settings().model_endpoint,
        metadata={"description": "Databricks model serving endpoint of the chat model."},
    )
    system_prompt: str = field(
        default="You are a careful assistant. Sensitive tool calls are reviewed by a person.",
        metadata={"description": "System prompt placed before the conversation."},
    )
