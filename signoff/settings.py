"""Project settings from `signoff.toml`: Databricks resources, the tool review policy and who
may decide (`[policy]`, applied by `signoff.policy`).

Workspace credentials are not settings here: `databricks-sdk` reads the usual `DATABRICKS_*`
variables. `SIGNOFF_CONFIG` points at another settings file.
"""

from __future__ import annotations

import os
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
