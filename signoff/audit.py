"""The audit trail: one entry per decision, appended to graph state.

Every human decision, every auto-approval and every direct state edit is recorded with who,
when, what was shown and what ran. Entries are plain JSON so they survive any checkpointer.
"""

from __future__ import annotations

import difflib
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict

from langchain_core.runnables import RunnableConfig

ANONYMOUS = "anonymous"
SYSTEM = "system"


class AuditEntry(TypedDict):
    """One recorded decision."""

    stage: str
    """The approval stage, e.g. `"review"`, `"manager"`."""

    action: str
    """The action or tool the decision was about."""

    decision: str
    """approve, edit, reject, respond, auto_approve or state_edit."""

    reviewer: str
    """The authenticated user of the run, `"anonymous"` without auth, `"system"` for rules."""

    at: str
    """UTC timestamp, ISO 8601."""

    comment: str | None
    """The reviewer's message, or the rule that auto-approved."""

    args_before: dict[str, Any]
    """The arguments shown to the reviewer."""

    args_after: dict[str, Any] | None
    """The arguments that run (edited or as shown); `None` when nothing runs."""

    request_id: NotRequired[str]
    """The approval request this answers, when there was one."""

    changes: NotRequired[dict[str, dict[str, Any]]]
    """For edits: each changed argument's before/after, and a unified diff for text."""


def current_reviewer(config: RunnableConfig) -> str:
    """The authenticated user id of the run in `config`, or `"anonymous"`."""
    configurable = config.get("configurable") or {}
    return str(configurable.get("langgraph_auth_user_id") or ANONYMOUS)


def audit_entry(
    *,
    stage: str,
    action: str,
    decision: str,
    reviewer: str,
    args_before: dict[str, Any],
    args_after: dict[str, Any] | None,
    comment: str | None = None,
    request_id: str | None = None,
) -> AuditEntry:
    """Build an entry stamped now; edits (args that differ) also get their `changes`."""
    entry = AuditEntry(
        stage=stage,
        action=action,
        decision=decision,
        reviewer=reviewer,
        at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        comment=comment,
        args_before=args_before,
        args_after=args_after,
    )
    if request_id is not None:
        entry["request_id"] = request_id
    if args_after is not None and args_after != args_before:
        entry["changes"] = changes_between(args_before, args_after)
    return entry


def changes_between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each key whose value differs, with before/after and, for text, a unified diff."""
    changes: dict[str, dict[str, Any]] = {}
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        change: dict[str, Any] = {"before": old, "after": new}
        if isinstance(old, str) and isinstance(new, str):
            change["diff"] = "".join(
                difflib.unified_diff(
                    old.splitlines(keepends=True) or [""],
                    new.splitlines(keepends=True) or [""],
                    fromfile=f"{key} (before)",
                    tofile=f"{key} (after)",
                )
            )
        changes[key] = change
    return changes
