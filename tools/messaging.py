"""Messaging tool: send a message to a person (sensitive: it cannot be unsent)."""

from __future__ import annotations

from langchain_core.tools import tool
from pydantic import BaseModel, Field

from signoff import ledger


class MessageArgs(BaseModel):
    """Arguments of a message; validated again whenever a reviewer edits them."""

    to: str = Field(min_length=1, description="Recipient name or address.")
    body: str = Field(min_length=1, max_length=2000, description="The message text.")


@tool(args_schema=MessageArgs)
def send_message(to: str, body: str) -> str:
    """Send a message to someone. Irreversible: requires approval."""
    entry = ledger.execute("message", {"to": to, "body": body})
    return f"Message sent to {to} (ledger id {entry['id']})."
