"""Project settings from `signoff.toml`: Databricks resources, the tool review policy, who
may decide (`[policy]`, applied by `signoff.policy`) and how long a request may wait
(`[deadlines]`, applied by `signoff.deadlines`).

Workspace credentials are not settings here: `databricks-sdk` reads the usual `DATABRICKS_*`
variables. `SIGNOFF_CONFIG` points at another settings file.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from signoff.approval.shapes import DecisionType

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "signoff.toml"
DEFAULT_ADMINS = "signoff-admins"
"""The admin group when `[policy]` names none; it also decides what no rule covers."""


@dataclass(frozen=True)
class DeadlinePolicy:
    """How long one kind of request may wait: seconds after it is raised, `None` for never."""

    remind_after: float | None = None
    """Notify the deciders again (`approval.reminded`)."""
    escalate_after: float | None = None
    """Let members of `escalate_to` decide as well (`approval.escalated`)."""
    escalate_to: str | None = None
    """The group escalation adds to the deciders."""
    expire_after: float | None = None
    """Reject the request as `expired`, decided by `system` (fails closed)."""


@dataclass(frozen=True)
class Settings:
    """The parsed settings file."""

    job_id: int
    genie_space_id: str
    model_endpoint: str
    uc_functions: list[str]
    safe_tools: frozenset[str] = frozenset()
    decisions: dict[str, list[DecisionType]] = field(default_factory=dict)
    deciders: dict[str, frozenset[str]] = field(default_factory=dict)
    """Rule (a graph, `graph.stage` or a tool) → the groups whose members may decide it;
    `default` covers every rule not listed."""
    admins: frozenset[str] = frozenset()
    """Groups that may withdraw any request, edit state and manage assistants."""
    deadlines: dict[str, DeadlinePolicy] = field(default_factory=dict)
    """Rule (as for `deciders`) → how long its requests may wait; `default` covers the rest."""

    def review_decisions(self, tool_name: str) -> list[DecisionType] | None:
        """The decisions allowed on `tool_name`'s calls; `None` when it is safe (no review).

        Unity Catalog tools may be named either `catalog.schema.fn` or `catalog__schema__fn`.
        """
        names = {tool_name, tool_name.replace("__", ".")}
        if names & self.safe_tools:
            return None
        for name in names:
            if name in self.decisions:
                return self.decisions[name]
        return list(_all_decisions())

    def review_policy(self, tool_names: list[str]) -> dict[str, list[DecisionType]]:
        """Sensitive tool name → allowed decisions, for the tools an agent has."""
        return {
            name: decisions
            for name in tool_names
            if (decisions := self.review_decisions(name)) is not None
        }


@cache
def load_settings(path: str | None = None) -> Settings:
    """Read the settings file (`path`, else `SIGNOFF_CONFIG`, else `signoff.toml`)."""
    file = Path(path or os.environ.get("SIGNOFF_CONFIG") or DEFAULT_FILE)
    data = tomllib.loads(file.read_text(encoding="utf-8"))
    databricks, review = data.get("databricks", {}), data.get("review", {})
    decisions = review.get("decisions", {})
    unknown = {d for allowed in decisions.values() for d in allowed} - set(_all_decisions())
    if unknown:
        raise ValueError(
            f"{file}: unknown decisions {sorted(unknown)}; use {list(_all_decisions())}"
        )
    empty = sorted(name for name, allowed in decisions.items() if not allowed)
    if empty:
        raise ValueError(
            f"{file}: [review.decisions] for {empty} allow nothing, so no answer could ever be "
            'accepted; list at least one decision, or mark the tool safe in [review] "safe".'
        )
    policy = data.get("policy", {})
    admins = frozenset(policy.get("admins", [DEFAULT_ADMINS]))
    deciders = {rule: frozenset(groups) for rule, groups in policy.get("deciders", {}).items()}
    deciders.setdefault("default", admins)
    nobody = sorted(rule for rule, groups in deciders.items() if not groups)
    if nobody:
        raise ValueError(
            f"{file}: [policy.deciders] names no group for {nobody}, so nobody could ever "
            "decide those requests; list at least one group."
        )
    return Settings(
        deadlines={
            rule: _deadline_policy(file, rule, table)
            for rule, table in data.get("deadlines", {}).items()
        },
        job_id=int(databricks["job_id"]),
        genie_space_id=str(databricks["genie_space_id"]),
        model_endpoint=str(databricks["model_endpoint"]),
        uc_functions=list(databricks.get("uc_functions", [])),
        safe_tools=frozenset(review.get("safe", [])),
        decisions=decisions,
        deciders=deciders,
        admins=admins,
    )


def _all_decisions() -> tuple[DecisionType, ...]:
    """Every decision a review may allow. Imported here, not at the top: the approval package
    reads these settings (through `signoff.policy`) while it is being imported."""
    from signoff.approval.shapes import DECISION_TYPES

    return DECISION_TYPES


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(value: object) -> float:
    """Seconds in `value`: a number of seconds, or text such as "90s", "15m", "4h", "2d"."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None or float(match[1]) <= 0:
        raise ValueError(
            f"{value!r} is not a duration: use seconds (e.g. 300) or text such as "
            '"90s", "15m", "4h" or "2d".'
        )
    return float(match[1]) * _UNIT_SECONDS[match[2]]


def _deadline_policy(file: Path, rule: str, table: dict[str, object]) -> DeadlinePolicy:
    known = {"remind_after", "escalate_after", "escalate_to", "expire_after"}
    if unknown := sorted(set(table) - known):
        raise ValueError(
            f"{file}: [deadlines.{rule}] has unknown keys {unknown}; use {sorted(known)}"
        )
    try:
        policy = DeadlinePolicy(
            **{
                key: duration_seconds(value) for key, value in table.items() if key != "escalate_to"
            },
            escalate_to=str(table["escalate_to"]) if "escalate_to" in table else None,
        )
    except ValueError as error:
        raise ValueError(f"{file}: [deadlines.{rule}]: {error}") from None
    if (policy.escalate_after is None) != (policy.escalate_to is None):
        raise ValueError(
            f"{file}: [deadlines.{rule}] needs escalate_after and escalate_to together."
        )
    return policy
