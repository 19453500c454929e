"""review_tool_calls: an agent whose sensitive tool calls pause for approve/edit/reject/respond.

Tools: `get_balance` (safe, runs at once), `send_payment` and `send_message` (sensitive).
Each sensitive call in one model message is its own interrupt. See `signoff.tool_review`
for the flow and the meaning of each decision.

Input: `{"messages": [{"role": "user", "content": "pay 250 to acct-7 for invoice 12"}]}`.
"""

from __future__ import annotations

from signoff.models import load_chat_model
from signoff.tool_review import ToolPolicy, build_reviewed_agent
from tools.messaging import send_message
from tools.payments import get_balance, send_payment

POLICY: ToolPolicy = {
    "send_payment": ["approve", "edit", "reject", "respond"],
    "send_message": ["approve", "edit", "reject", "respond"],
}

graph = build_reviewed_agent(
    name="review_tool_calls",
    tools=[get_balance, send_payment, send_message],
    policy=POLICY,
    load_model=load_chat_model,
)
