"""Deadlines of approval requests: when to remind, escalate and expire, and whether it is time.

A request's deadlines are fixed when it is raised and travel in the request itself (the
interrupt value, so in the checkpoint): `created_at`, and `remind_at`, `escalates_at` (with
`escalate_to`) and `expires_at` where its policy sets them. The policy is `signoff.toml`
`[deadlines]` for the request's rule (a graph, `graph.stage` or a tool, as in
`[policy.deciders]`; `default` for the rest), overridden by the assistant's context
(`DeadlineOverrides`: only admins manage assistants).

`created_at` is the time of the checkpoint the asking task runs from, so every replay of that
task (re-pauses after bad answers, resumes, crash retries) counts from the same moment. The
policy is the one in force when the node runs: an admin who changes an assistant's deadlines
changes them for its pending requests too (the request shows the new times the next time it
is answered). Nothing here waits: `signoff.client.sweeper` compares the times shown with the clock,
and the review node checks an expiry against its own deadline before accepting it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from langgraph.checkpoint.base.id import UUID as CheckpointId
from langgraph.config import get_config

from signoff import clock
from signoff.clock import parse, stamp
from signoff.settings import DeadlinePolicy, load_settings

_UUID_EPOCH = 0x01B21DD213814000
"""100-ns intervals between the UUID epoch (1582) and the Unix epoch."""


@dataclass(kw_only=True)
class DeadlineOverrides:
    """Deadline settings an assistant's context may set, over `signoff.toml` `[deadlines]`."""

    remind_after_seconds: float | None = field(
        default=None,
        metadata={"description": "Remind the deciders after this many seconds."},
    )
    escalate_after_seconds: float | None = field(
        default=None,
        metadata={"description": "After this many seconds, escalate_to may decide too."},
    )
    escalate_to: str | None = field(
        default=None,
        metadata={"description": "The group escalation adds to the deciders."},
    )
    expire_after_seconds: float | None = field(
        default=None,
        metadata={"description": "Reject the request as expired after this many seconds."},
    )


def policy_for(rule: str, context: Any = None) -> DeadlinePolicy:
    """The deadline policy of `rule` (`default` when no table names it), with the overrides
    `context` sets (a `DeadlineOverrides`, or anything with those attributes)."""
    tables = load_settings().deadlines
    base = next(
        (tables[name] for name in (rule, rule.replace("__", ".")) if name in tables),
        tables.get("default", DeadlinePolicy()),
    )
    escalate_after = getattr(context, "escalate_after_seconds", None) or base.escalate_after
    return DeadlinePolicy(
        remind_after=getattr(context, "remind_after_seconds", None) or base.remind_after,
        escalate_after=escalate_after,
        escalate_to=(getattr(context, "escalate_to", None) or base.escalate_to)
        if escalate_after
        else None,
        expire_after=getattr(context, "expire_after_seconds", None) or base.expire_after,
    )


def deadlines(created: datetime, policy: DeadlinePolicy) -> dict[str, str]:
    """The request fields for a request raised at `created` under `policy`."""
    fields = {"created_at": stamp(created)}
    for name, seconds in (
        ("remind_at", policy.remind_after),
        ("escalates_at", policy.escalate_after),
        ("expires_at", policy.expire_after),
    ):
        if seconds:
            fields[name] = stamp(created + timedelta(seconds=seconds))
    if policy.escalate_after and policy.escalate_to:
        fields["escalate_to"] = policy.escalate_to
    return fields


def asked_at() -> datetime:
    """When the running task's request was raised: the time of the checkpoint it runs from,
    the same on every replay; now, when it runs without a checkpointer."""
    configurable = get_config().get("configurable") or {}
    checkpoint_id = (configurable.get("checkpoint_map") or {}).get("")
    if not checkpoint_id:
        return clock.now()
    intervals = CheckpointId(checkpoint_id).time - _UUID_EPOCH
    return datetime.fromtimestamp(intervals / 10_000_000, UTC)


def is_due(request: Mapping[str, Any], name: str, at: datetime | None = None) -> bool:
    """Whether deadline `name` (`remind_at`, `escalates_at`, `expires_at`) of `request` is set
    and has come."""
    moment = parse(request.get(name))
    return moment is not None and (at or clock.now()) >= moment
