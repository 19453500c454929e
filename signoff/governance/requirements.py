"""Which requirement of its rule a request falls under, fixed when it is raised.

A rule (`signoff.toml` `[[policy.rules.<rule>]]`) is a list of requirements; the first whose
condition holds of the request applies (`signoff.settings.Requirement`). What it says is
frozen into the request's policy as a `Need`: run without a person (`auto_approve`), never run
(`deny`), or wait for the approvals of its quotas (`approve`).

Failing closed: a condition that cannot be evaluated on a request (a missing argument, a
type mismatch), or a request no requirement matches, needs every approval any requirement
of the rule could ask for (`strictest`), and the request says why (`Need.because`). It never
auto-approves and is never denied on a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from typing import Any

from langgraph.config import get_config

from signoff import clock
from signoff.conditions import ConditionFailed, Facts, prepare
from signoff.governance.identity import Identity, run_graph_id, run_identity
from signoff.protocol.shapes import Need, QuotaShape
from signoff.settings import Quota, Requirement, Settings, by_rule, load_settings


def requirements_of(rule: str, settings: Settings | None = None) -> tuple[Requirement, ...]:
    """The requirements of `rule` (under either of its names), else of `default`, in
    `settings` (default: the settings in force)."""
    rules = (settings or load_settings()).rules
    return by_rule(rules, rule) or rules["default"]


def need_for(rule: str, facts: Facts, settings: Settings | None = None) -> Need:
    """The need of a request under `rule` with `facts`: the first requirement whose condition
    holds; the strictest one when a condition fails or none holds. `settings`: a proposed
    policy to evaluate instead of the one in force (`signoff policy replay`)."""
    requirements = requirements_of(rule, settings)
    try:
        prepared = prepare(facts, (r.when for r in requirements if r.when is not None))
    except Exception as failure:  # noqa: BLE001 - a value CEL cannot take fails closed
        because = (
            f"the request's values could not be handed to rule {rule!r}'s conditions: {failure}"
        )
        return strictest(requirements, because, settings)
    for requirement in requirements:
        try:
            if requirement.when is None or requirement.when.holds(prepared):
                return _need(requirement)
        except ConditionFailed as failure:
            because = f"requirement {requirement.name!r} of rule {rule!r}: {failure}"
            return strictest(requirements, because, settings)
    because = f"no requirement of rule {rule!r} matched this request"
    return strictest(requirements, because, settings)


def strictest(
    requirements: tuple[Requirement, ...], because: str, settings: Settings | None = None
) -> Need:
    """Every approval any of `requirements` could ask for (the most per group set), else the
    `default` rule's (of `settings`); what a request needs when its policy cannot say."""
    counts: dict[tuple[str, ...], int] = {}
    for requirement in requirements:
        for quota in requirement.quotas:
            counts[quota.groups] = max(counts.get(quota.groups, 0), quota.count)
    if not counts:
        default = requirements_of("default", settings)[0]
        counts = {quota.groups: quota.count for quota in default.quotas}
    return Need(
        requirement="strictest",
        when=None,
        outcome="approve",
        quotas=[QuotaShape(groups=list(groups), count=n) for groups, n in counts.items()],
        rejections=1,
        because=f"The policy failed closed ({because}), so this request needs every "
        "approval its rule could ask for.",
    )


def _need(requirement: Requirement) -> Need:
    return Need(
        requirement=requirement.name,
        when=requirement.when.source if requirement.when else None,
        outcome=requirement.outcome,
        quotas=[_quota(quota) for quota in requirement.quotas],
        rejections=requirement.rejections,
        because=requirement.reason,
    )


def _quota(quota: Quota) -> QuotaShape:
    return QuotaShape(groups=list(quota.groups), count=quota.count)


def deciders_of(need: Need) -> list[str]:
    """Every group whose members may approve under `need`."""
    return sorted({group for quota in need["quotas"] for group in quota["groups"]})


def approvals_needed(need: Need) -> int:
    """How many people must approve under `need`."""
    return sum(quota["count"] for quota in need["quotas"])


def request_facts(
    action: str,
    args: dict[str, Any],
    stage: str,
    context: Any = None,
    requester: Identity | None = None,
) -> Facts:
    """The facts of a request the running graph raises now: `action` with `args` at `stage`,
    under the assistant's `context`, raised by `requester` (by default the run's
    authenticated user; an agent's later calls in a reviewer's run are still the turn's
    requester's)."""
    config = get_config()
    identity = requester or run_identity(config)
    return Facts(
        args=dict(args),
        action=action,
        graph=run_graph_id(config),
        stage=stage,
        requester=identity.user if identity else "",
        groups=sorted(identity.groups) if identity else [],
        context=_as_mapping(context),
        now=clock.now(),
    )


def _as_mapping(context: Any) -> dict[str, Any]:
    """An assistant's context (a dataclass, a mapping or nothing) as a dict."""
    if is_dataclass(context) and not isinstance(context, type):
        return asdict(context)
    return dict(context) if isinstance(context, Mapping) else {}
