"""Account tools: read a balance (safe) and send a payment (sensitive: it moves money).

Offline, payments are executed into the signoff ledger, so every executed call is visible.
"""

from __future__ import annotations

import zlib

from langchain_core.tools import tool
from pydantic import BaseModel, Field

from signoff import ledger


@tool
def get_balance(account: str) -> str:
    """Look up the current balance of an account (read-only)."""
    cents = zlib.crc32(account.encode()) % 10_000_000
    return f"Account {account} has a balance of {cents / 100:.2f} USD."


class PaymentArgs(BaseModel):
    """Arguments of a payment; validated again whenever a reviewer edits them."""

    to: str = Field(min_length=1, description="The account that receives the money.")
    amount: float = Field(gt=0, le=1_000_000, description="Amount in USD.")
    memo: str = Field(default="", max_length=140, description="Note shown to the recipient.")


@tool(args_schema=PaymentArgs)
def send_payment(to: str, amount: float, memo: str = "") -> str:
    """Send money to an account. Irreversible: requires approval."""
    entry = ledger.execute("payment", {"to": to, "amount": amount, "memo": memo})
    return f"Sent {amount:.2f} USD to {to} (ledger id {entry['id']})."
