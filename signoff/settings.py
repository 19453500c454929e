"""Project settings from `signoff.toml`: Databricks resources, the tool review policy, who
may decide (`[policy]`, applied by `signoff.governance.policy`) and how long a request may wait
(`[deadlines]`, applied by `signoff.governance.deadlines`).

The process's own switches are environment variables, and this module is the one that reads
them: `environment()` gives every `SIGNOFF_*` variable, typed, with its default
(`Environment`). `SIGNOFF_CONFIG` points at another settings file. Workspace credentials are
not settings here: `databricks-sdk` reads the usual `DATABRICKS_*` variables.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from signoff.conditions import Condition, InvalidCondition, compile_condition
from signoff.protocol.shapes import DECISION_TYPES, DecisionType, RequirementOutcome

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
class Quota:
    """`count` approvals, each by a different person in one of `groups`."""

    groups: tuple[str, ...]
    count: int


@dataclass(frozen=True)
class Requirement:
    """One line of a rule: for requests its condition holds of, what they need."""

    name: str
    """How the audit trail, the request and `signoff policy replay` call it."""
    when: Condition | None
    """The CEL condition (`signoff.conditions`); `None` matches every request."""
    outcome: RequirementOutcome
    quotas: tuple[Quota, ...] = ()
    """For `approve`: every quota must be met, each approval by a different person."""
    rejections: int = 1
    """How many different people must reject to reject the request (1: one veto)."""
    reason: str | None = None
    """For `deny`: what the model or the caller is told."""

    @property
    def groups(self) -> list[str]:
        """Every group that may approve under this requirement."""
        return sorted({group for quota in self.quotas for group in quota.groups})


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
    rules: dict[str, tuple[Requirement, ...]] = field(default_factory=dict)
    """Rule → its requirements, first match applies (`[[policy.rules.<rule>]]`, and each
    `[policy.deciders]` entry as one approval by its groups); `default` covers the rest."""

    def review_decisions(self, tool_name: str) -> list[DecisionType] | None:
        """The decisions allowed on `tool_name`'s calls; `None` when it is safe (no review).

        Unity Catalog tools may be named either `catalog.schema.fn` or `catalog__schema__fn`.
        """
        if set(rule_names(tool_name)) & self.safe_tools:
            return None
        decisions = by_rule(self.decisions, tool_name)
        return list(DECISION_TYPES) if decisions is None else decisions

    def review_policy(self, tool_names: list[str]) -> dict[str, list[DecisionType]]:
        """Sensitive tool name → allowed decisions, for the tools an agent has."""
        return {
            name: decisions
            for name in tool_names
            if (decisions := self.review_decisions(name)) is not None
        }


def rule_names(rule: str) -> tuple[str, str]:
    """The names `rule` may have in `signoff.toml`: as given, and a Unity Catalog function's
    `catalog__schema__fn` (how tools are named) as `catalog.schema.fn`."""
    return rule, rule.replace("__", ".")


Entry = TypeVar("Entry")


def by_rule(table: Mapping[str, Entry], rule: str) -> Entry | None:
    """`table`'s entry for `rule` under either of its names (`rule_names`), or `None`."""
    return next((table[name] for name in rule_names(rule) if name in table), None)


@dataclass(frozen=True, kw_only=True)
class Environment:
    """Every `SIGNOFF_*` environment variable signoff reads: the field `x_y` is `SIGNOFF_X_Y`."""

    config: str | None = None
    """The settings file to read instead of the checkout's `signoff.toml`."""

    audit_key: str | None = None
    """The key audit entries are signed with (else a development key in `.signoff/`)."""

    identity_resolver: str | None = None
    """`package.module:function` resolving a bearer token to a user and groups (else the
    Databricks workspace's `current_user.me()`)."""

    checkpointer: str = ""
    """Where checkpoints are kept: `sqlite:///path`, `postgresql://...`, `lakebase://<instance>`
    (empty: Lakebase if `LAKEBASE_INSTANCE_NAME` is set, else SQLite in `.signoff/`); see
    `signoff.databricks.checkpointer`."""

    emulator: str = ""
    """`off`: never start the local workspace emulator, even with no workspace configured."""

    databricks_retry_seconds: int = 10
    """How long a Databricks call retries before a tool reports the workspace unreachable."""

    ledger: str = ".signoff/ledger.jsonl"
    """The record of executions (offline graphs) when the checkpoints are in SQLite (else table
    `signoff_ledger` beside them)."""

    outbox: str = ".signoff/outbox.sqlite"
    """The webhook outbox when the checkpoints are in SQLite (else table `signoff_outbox`
    beside them): events wait here until delivered."""

    webhook_url: str | None = None
    """Where approval events are posted (no URL: no webhooks)."""

    webhook_secret: str | None = None
    """The HMAC key of the `X-Signoff-Signature` header (none: unsigned)."""

    webhook_format: str = "json"
    """`json` (signoff's events) or `slack` (a Slack incoming-webhook message)."""

    webhook_attempts: int = 10
    """Deliveries tried per event before it is given up."""

    webhook_timeout_seconds: float = 5.0
    """How long one delivery may take."""

    slack_signing_secret: str | None = None
    """The Slack app's signing secret: with it (and `slack_bot_token`) Slack notices carry
    Approve and Reject buttons, and the server trusts the clicks Slack signs with it."""

    slack_bot_token: str | None = None
    """The Slack app's bot token (`xoxb-...`, scopes `users:read` and `users:read.email`): it
    reads the email of who clicked, the person they are in the workspace."""

    slack_api_url: str = "https://slack.com/api/"
    """Slack's Web API (another only for tests)."""

    public_url: str | None = None
    """The URL people open the inbox at (links in events; the sign-in's accepted origin)."""

    api_url: str | None = None
    """The API the inbox answers through, when it is not this server."""

    inbox_cache_seconds: float = 2.0
    """How long the inbox and the metrics reuse one read of every pending request."""

    metrics_token: str = ""
    """A token that may scrape `/signoff/metrics` besides a signed-in user's."""

    sweep_seconds: float = 30.0
    """How often the server's sweeper reminds, escalates and expires requests."""

    mlflow_feedback: str = ""
    """`on`: trace the graphs' runs with MLflow and log each decision as human feedback on the
    trace of the run that raised its request (`signoff.signals.feedback`)."""

    url: str = "http://127.0.0.1:2024"
    """The server the `signoff` command talks to."""

    token: str | None = None
    """The bearer token the `signoff` command sends."""


def environment() -> Environment:
    """The `SIGNOFF_*` variables as they are now (read on every call: tests and operators may
    change them); a value of the wrong type is a `ValueError` naming the variable."""
    values: dict[str, object] = {}
    for variable in fields(Environment):
        name = f"SIGNOFF_{variable.name.upper()}"
        raw = os.environ.get(name)
        if raw is None:
            continue
        kind: type[str | int | float] = (
            type(variable.default) if isinstance(variable.default, int | float) else str
        )
        try:
            values[variable.name] = kind(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r} is not a {kind.__name__}.") from None
    return Environment(**values)  # type: ignore[arg-type]


@cache
def load_settings(path: str | None = None) -> Settings:
    """Read the settings file (`path`, else `SIGNOFF_CONFIG`, else `signoff.toml`)."""
    file = Path(path or environment().config or DEFAULT_FILE)
    data = tomllib.loads(file.read_text(encoding="utf-8"))
    databricks, review = data.get("databricks", {}), data.get("review", {})
    decisions = review.get("decisions", {})
    unknown = {d for allowed in decisions.values() for d in allowed} - set(DECISION_TYPES)
    if unknown:
        raise ValueError(f"{file}: unknown decisions {sorted(unknown)}; use {list(DECISION_TYPES)}")
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
    rules = _rules(file, policy.get("rules", {}), deciders)
    return Settings(
        rules=rules,
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


LEGACY_REQUIREMENT = "deciders"
"""The name of the one requirement a `[policy.deciders]` entry (the format before
requirements) becomes."""

_REQUIREMENT_KEYS = {"name", "when", "auto_approve", "deny", "approvals", "from", "rejections"}


def _rules(
    file: Path, tables: dict[str, Any], deciders: dict[str, frozenset[str]]
) -> dict[str, tuple[Requirement, ...]]:
    """Every rule's requirements: `[[policy.rules.<rule>]]` as written, and each rule of
    `[policy.deciders]` (the format before requirements) as one approval by its groups."""
    if both := sorted(set(tables) & set(deciders) - {"default"}):
        raise ValueError(
            f"{file}: rules {both} are in both [policy.deciders] and [policy.rules]; keep each "
            "in [[policy.rules.<rule>]] only, where `approvals = {<group> = 1}` says what "
            "[policy.deciders] said."
        )
    rules: dict[str, tuple[Requirement, ...]] = {
        rule: (
            Requirement(
                name=LEGACY_REQUIREMENT,
                when=None,
                outcome="approve",
                quotas=(Quota(tuple(sorted(groups)), 1),),
            ),
        )
        for rule, groups in deciders.items()
    }
    for rule, table in tables.items():
        if not isinstance(table, list) or not table:
            raise ValueError(
                f"{file}: [policy.rules] {rule!r} must be a list of requirements, written as "
                f"[[policy.rules.{_quoted(rule)}]] tables."
            )
        rules[rule] = tuple(_requirement(file, rule, entry) for entry in table)
        _check_reachable(file, rule, rules[rule])
    return rules


def _requirement(file: Path, rule: str, table: dict[str, Any]) -> Requirement:
    """One `[[policy.rules.<rule>]]` table as a `Requirement` (`ValueError` naming the file,
    the rule and what is wrong)."""
    where = f"{file}: [[policy.rules.{_quoted(rule)}]] {table.get('name', '(unnamed)')!r}"
    if unknown := sorted(set(table) - _REQUIREMENT_KEYS):
        raise ValueError(f"{where} has unknown keys {unknown}; use {sorted(_REQUIREMENT_KEYS)}")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where} needs a `name` (how the audit trail calls it).")
    kinds = [key for key in ("auto_approve", "deny", "approvals") if key in table]
    if len(kinds) != 1:
        raise ValueError(
            f'{where} must say exactly one of `auto_approve = true`, `deny = "<reason>"` '
            f"or `approvals = ...`; it says {kinds or 'none'}."
        )
    try:
        when = compile_condition(table["when"]) if "when" in table else None
    except InvalidCondition as error:
        raise ValueError(f"{where}: `when`: {error}") from None
    rejections = table.get("rejections", 1)
    if type(rejections) is not int or rejections < 1:
        raise ValueError(f"{where}: `rejections` must be a whole number of at least 1.")
    if "from" in table and kinds != ["approvals"]:
        raise ValueError(f"{where}: `from` goes with `approvals = <count>` only.")
    if kinds == ["auto_approve"]:
        if table["auto_approve"] is not True:
            raise ValueError(f"{where}: write `auto_approve = true` (or leave it out).")
        return Requirement(name, when, "auto_approve")
    if kinds == ["deny"]:
        if not isinstance(table["deny"], str) or not table["deny"].strip():
            raise ValueError(f"{where}: `deny` is the reason the caller is told, as text.")
        return Requirement(name, when, "deny", reason=table["deny"])
    return Requirement(name, when, "approve", _quotas(where, table), rejections)


def _quotas(where: str, table: dict[str, Any]) -> tuple[Quota, ...]:
    """`approvals = {<group> = <count>, ...}` (per group), or `approvals = <count>` with
    `from = [<group>, ...]` (that many of any of them)."""
    approvals = table["approvals"]
    if isinstance(approvals, dict):
        quotas = tuple(Quota((group,), count) for group, count in approvals.items())
    elif type(approvals) is int and isinstance(table.get("from"), list) and table["from"]:
        quotas = (Quota(tuple(sorted(map(str, table["from"]))), approvals),)
    else:
        raise ValueError(
            f"{where}: write `approvals = {{managers = 1, finance = 1}}` (per group) or "
            '`approvals = 2` with `from = ["managers"]`.'
        )
    if not quotas or any(type(q.count) is not int or q.count < 1 for q in quotas):
        raise ValueError(f"{where}: every approval count must be a whole number of at least 1.")
    return quotas


def _check_reachable(file: Path, rule: str, requirements: tuple[Requirement, ...]) -> None:
    """Refuse a requirement no request could reach: one after a requirement without `when`,
    or with the same condition as one before it."""
    seen: set[str] = set()
    for position, requirement in enumerate(requirements):
        source = requirement.when.source if requirement.when else None
        if source is None and position < len(requirements) - 1:
            later = [r.name for r in requirements[position + 1 :]]
            raise ValueError(
                f"{file}: [[policy.rules.{_quoted(rule)}]] {requirement.name!r} has no `when`, "
                f"so it matches every request and {later} after it can never apply; give it a "
                "condition or move it last."
            )
        if source is not None and " ".join(source.split()) in seen:
            raise ValueError(
                f"{file}: [[policy.rules.{_quoted(rule)}]] {requirement.name!r} repeats an "
                "earlier condition, so it can never apply."
            )
        if source is not None:
            seen.add(" ".join(source.split()))


def _quoted(rule: str) -> str:
    """`rule` as a TOML key."""
    return rule if re.fullmatch(r"[A-Za-z0-9_-]+", rule) else f'"{rule}"'
