"""Risk policy for single operations: which ones a person must approve.

A rule-based classifier. Thresholds come from the graph's runtime context, so an assistant
in Studio (or an `assistants.create(context=...)` call) can change them without code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from signoff.deadlines import DeadlineOverrides


@dataclass(kw_only=True)
class RiskPolicy(DeadlineOverrides):
    """When an operation may run without a person (and, for those that wait, their deadlines)."""

    auto_approve_limit: float = field(
        default=1000.0,
        metadata={"description": "Operations with an amount at or below this auto-approve."},
    )
    review_targets: list[str] = field(
        default_factory=list,
        metadata={"description": "Targets that always need a person, whatever the amount."},
    )


class Risk(TypedDict):
    """The outcome of classifying one operation."""

    level: Literal["low", "high"]
    """low runs without a person; high pauses for approval."""

    rule: str
    """The rule that decided, in words, as recorded in the audit trail."""


def classify(operation: dict[str, Any], policy: RiskPolicy) -> Risk:
    """Classify `operation` (with `amount` and `target`) under `policy`."""
    amount, target = operation["amount"], operation["target"]
    if target in policy.review_targets:
        return Risk(level="high", rule=f"target {target!r} is in review_targets")
    if amount > policy.auto_approve_limit:
        return Risk(
            level="high",
            rule=f"amount {amount} exceeds auto_approve_limit {policy.auto_approve_limit}",
        )
    return Risk(
        level="low",
        rule=f"amount {amount} is within auto_approve_limit {policy.auto_approve_limit}",
    )
