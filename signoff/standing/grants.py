"""Standing approvals (grants): a decider approves, in advance, requests of one rule within
constraints, for some requesters, with a budget and an expiry. Pure logic: no store here
(`signoff.standing.store` keeps grants and their claims).

A `Grant` says:

- `rule`: the graph, `graph.stage` or tool whose requests it approves (either name of a Unity
  Catalog function, `signoff.settings.rule_names`);
- `constraints`: per argument, `{"eq": value}`, `{"min": n, "max": n}` (either bound may be
  left out; numbers only) or `{"in": [values]}`. An argument the constraints do not name is
  free; one they name must be present and of the right type, or the request is outside;
- `covers`: whose requests: `{"requester": user}`, `{"graph": id}`, `{"thread": id}` or `{}`
  (anyone);
- a budget: `uses` (at most that many requests; `single_use` is `uses = 1`) and/or `total`
  (`{"arg": "amount", "max": 5000}`: the amounts of the requests it approves add up to at
  most that);
- `expires_at` (required, at most `MAX_DAYS` ahead), and who granted it (`granted_by`) with
  the groups they had then (`groups`).

Nobody grants for their own requests, and nobody grants wider than they could decide: the
grantor must be able to decide some request of the rule alone (a requirement asking for one
approval, by a group of theirs: `grant_refusal`), and at use time the request's actual need
must be one approval that the grantor's recorded groups may give (`coverage_refusal`). A
requester is never covered by their own grant.

Budgets are spent by claims (`Claim`), one per request, each settled `accepted` or
`refused` once by the claimant (see `signoff.standing.store` for why this is never
overspent): a claim is accepted when every claim its claimant read that is not refused, its
own included, fits the budget (`claim_fits`).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Context, Decimal
from typing import Any, Literal, TypedDict, TypeGuard

from signoff.clock import parse, stamp
from signoff.conditions import Facts
from signoff.governance.identity import Identity
from signoff.governance.policy import admin_groups, is_admin
from signoff.governance.requirements import approvals_needed, deciders_of, requirements_of
from signoff.protocol.bounds import OutOfBounds, check_bounds, shown
from signoff.protocol.shapes import Need
from signoff.settings import duration_seconds, rule_names
from signoff.standing.signing import sign, verifies

MAX_DAYS = 90
"""The longest a grant (or a delegation) may last."""
MAX_CONSTRAINTS = 32
MAX_VALUES = 100
"""The most values an `in` constraint may list."""
MAX_USES = 100_000
MAX_NAME = 256
MAX_NOTE = 500

Constraint = TypedDict(
    "Constraint", {"eq": Any, "min": float, "max": float, "in": list[Any]}, total=False
)
"""One argument's constraint: exactly `eq`; or `min` and/or `max`; or `in`."""


class Covers(TypedDict, total=False):
    """Whose requests a grant covers: at most one of these; none: anyone's."""

    requester: str
    graph: str
    thread: str


class Total(TypedDict):
    """A budget on the sum of one numeric argument over the requests a grant approves."""

    arg: str
    max: float


class Grant(TypedDict):
    """A standing approval, signed by the server (`signoff.standing.signing`, scope "grant")."""

    id: str
    rule: str
    """The rule it approves requests of, as given when granted."""
    constraints: dict[str, Constraint]
    covers: Covers
    uses: int | None
    """How many requests it may approve; `None`: no limit but `total` and the expiry."""
    total: Total | None
    expires_at: str
    granted_by: str
    groups: list[str]
    """The grantor's groups when they granted: what it approves as."""
    created_at: str
    revoked_at: str | None
    revoked_by: str | None
    note: str | None
    signature: str


class GrantSpec(TypedDict, total=False):
    """What a grantor asks for (the API's body): `expires_at` (ISO 8601) or `expires_in` (a
    duration: seconds, or "7d", "12h"...), and `single_use` for `uses = 1`."""

    rule: str
    constraints: dict[str, Constraint]
    covers: Covers
    uses: int | None
    total: Total | None
    expires_at: str
    expires_in: str | float
    single_use: bool
    note: str | None


SPEC_FIELDS = frozenset(GrantSpec.__annotations__)

Verdict = Literal["accepted", "refused"]


class Claim(TypedDict):
    """One request's claim on a grant's budget, signed (scope "claim"); `verdict` is `None`
    until its claimant settled it."""

    grant_id: str
    request_id: str
    amount: float | None
    """The request's value of the grant's `total` argument (`None` without a total)."""
    thread_id: str
    at: str
    verdict: Verdict | None
    signature: str


class Budget(TypedDict):
    """What is left of a grant's budget (`None`: that budget is not limited)."""

    uses: int | None
    total: float | None


class Refused(Exception):
    """A standing request refused: `status` (HTTP) and `detail`, a sentence saying what
    would be allowed."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


# ---------------------------------------------------------------- making and revoking


def canonical_rule(rule: str) -> str:
    """The one name of `rule` grants are kept under (a tool's `catalog.schema.fn`)."""
    return rule_names(rule)[1]


def sole_deciders(rule: str) -> list[str]:
    """The groups whose members decide some request of `rule` alone: those of a requirement
    that asks for one approval."""
    return sorted(
        {
            group
            for requirement in requirements_of(rule)
            if requirement.outcome == "approve"
            and sum(quota.count for quota in requirement.quotas) == 1
            for group in requirement.groups
        }
    )


def grant_refusal(grantor: Identity, spec: Any, now: datetime) -> str | None:
    """Why `grantor` may not grant `spec` (a `GrantSpec`) at `now`, or `None` if they may."""
    if not isinstance(spec, Mapping):
        return "A grant is a JSON object: rule, constraints, covers, uses, total, expires_at."
    try:
        check_bounds(dict(spec), "grant")
    except OutOfBounds as error:
        return str(error)
    if unknown := sorted(set(spec) - SPEC_FIELDS):
        return f"A grant has no fields {unknown}; it may have {sorted(SPEC_FIELDS)}."
    rule = spec.get("rule")
    if not _name(rule):
        return "A grant needs a `rule`: the graph, `graph.stage` or tool it approves requests of."
    sole = sole_deciders(rule)
    if not sole:
        return (
            f"No request of rule {rule!r} is decided by one person alone, so no grant can stand "
            "in for its approvals: its requests need several approvers, or none."
        )
    if not grantor.groups & set(sole):
        mine = ", ".join(sorted(grantor.groups)) or "no groups"
        return (
            f"{grantor.user} may not grant approvals of rule {rule!r}: a grant stands in for one "
            f"approval, and only a member of {', '.join(sole)} decides its requests alone "
            f"(their groups: {mine})."
        )
    for problem in (
        _covers_refusal(grantor, spec.get("covers")),
        _constraints_refusal(spec.get("constraints")),
        _budget_refusal(spec),
        _expiry_refusal(spec, now),
    ):
        if problem:
            return problem
    note = spec.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE):
        return f"A grant's `note` is text of at most {MAX_NOTE} characters."
    return None


def new_grant(grantor: Identity, spec: Any, now: datetime) -> Grant:
    """The signed grant `grantor` makes of `spec` at `now`; `Refused` (422, or 403 when they
    may not grant this rule) when `grant_refusal` says why not."""
    if refusal := grant_refusal(grantor, spec, now):
        may = isinstance(spec, Mapping) and _name(spec.get("rule"))
        forbidden = may and not grantor.groups & set(sole_deciders(spec["rule"]))
        raise Refused(403 if forbidden else 422, refusal)
    uses = 1 if spec.get("single_use") else spec.get("uses")
    total = spec.get("total")
    grant = Grant(
        id=str(uuid.uuid4()),
        rule=spec["rule"],
        constraints={name: dict(c) for name, c in (spec.get("constraints") or {}).items()},  # type: ignore[misc]
        covers=Covers(**(spec.get("covers") or {})),
        uses=uses,
        total=Total(arg=total["arg"], max=total["max"]) if total else None,
        expires_at=stamp(_expiry(spec, now)),
        granted_by=grantor.user,
        groups=sorted(grantor.groups),
        created_at=stamp(now),
        revoked_at=None,
        revoked_by=None,
        note=spec.get("note"),
        signature="",
    )
    return sign(grant, "grant")


def revocation_refusal(identity: Identity, owner: str, what: str) -> str | None:
    """Why `identity` may not revoke `what` (a grant or delegation) made by `owner`."""
    if identity.user == owner or is_admin(identity):
        return None
    return (
        f"{identity.user} may not revoke {what}: only {owner}, who made it, or a member of "
        f"{', '.join(admin_groups())} may."
    )


def revoked(grant: Grant, by: str, now: datetime) -> Grant:
    """`grant`, revoked by `by` at `now`, signed again (an already revoked one as it is)."""
    if grant.get("revoked_at"):
        return grant
    return sign(Grant(**{**grant, "revoked_at": stamp(now), "revoked_by": by}), "grant")


# ---------------------------------------------------------------- covering a request


def liveness_refusal(grant: Any, now: datetime) -> str | None:
    """Why `grant` approves nothing at `now` (forged, revoked or expired), or `None`."""
    if not verifies(grant, "grant"):
        return FORGED
    return _lapse(grant, now)


FORGED = "the grant is not signed by this server (altered or forged)"


def _lapse(grant: Any, now: datetime) -> str | None:
    """Why `grant` has lapsed at `now` (revoked or expired), or `None`."""
    if grant.get("revoked_at"):
        by, at = grant.get("revoked_by"), grant["revoked_at"]
        return f"grant {grant['id']} was revoked by {by} at {at}"
    expires = parse(grant.get("expires_at"))
    if expires is None or now >= expires:
        return f"grant {grant['id']} expired at {grant.get('expires_at')}"
    return None


def coverage_refusal(
    grant: Grant, *, rule: str, facts: Facts, need: Need, thread_id: str, now: datetime
) -> str | None:
    """Why `grant` does not approve the request of `rule` with `facts` and `need` on
    `thread_id` at `now`, or `None` when it does (budget aside). Its signature is checked
    last: it costs more than every other check, and most grants of a rule fail one of those."""
    if refusal := _lapse(grant, now):
        return refusal
    gid = grant["id"]
    if not set(rule_names(grant["rule"])) & set(rule_names(rule)):
        return f"grant {gid} approves requests of rule {grant['rule']!r}, not {rule!r}"
    if refusal := _scope_refusal(grant, facts, thread_id):
        return refusal
    requester = facts.get("requester") or ""
    if not requester:
        return f"grant {gid} covers only requests raised by a signed-in user"
    if requester == grant["granted_by"]:
        return f"grant {gid} is {requester}'s own, and nobody approves their own request"
    if need.get("requirement") == "strictest":
        return f"grant {gid} does not cover a request whose policy failed closed: a person decides"
    deciders = deciders_of(need)
    alone = need.get("outcome") == "approve" and approvals_needed(need) == 1
    if not alone or not set(grant["groups"]) & set(deciders):
        return (
            f"grant {gid} stands in for one approval by {grant['granted_by']} (groups "
            f"{', '.join(grant['groups'])}); this request needs {_need_text(need)}"
        )
    if refusal := constraint_refusal(grant, facts.get("args") or {}):
        return refusal
    return None if verifies(grant, "grant") else FORGED


def constraint_refusal(grant: Grant, args: Mapping[str, Any]) -> str | None:
    """Why `args` fall outside `grant`'s constraints (or give no amount for its `total`), or
    `None` when they are inside. A missing argument or one of the wrong type is outside."""
    constraints = grant.get("constraints")
    if not isinstance(constraints, Mapping):
        return f"grant {grant.get('id')} has unreadable constraints"
    for name, constraint in sorted(constraints.items()):
        allowed = describe_constraint(name, constraint)
        if name not in args:
            return f"argument {name!r} is missing; grant {grant['id']} allows only {allowed}"
        if not _satisfies(args[name], constraint):
            return (
                f"argument {name} = {shown(args[name])} is outside grant {grant['id']}, "
                f"which allows only {allowed}"
            )
    total = grant.get("total")
    if total is not None and amount_of(grant, args) is None:
        return (
            f"grant {grant['id']} budgets the sum of argument {total['arg']!r}, and this request "
            "gives no number of zero or more for it"
        )
    return None


def amount_of(grant: Grant, args: Mapping[str, Any]) -> float | None:
    """The request's value of the argument `grant`'s total budgets (a finite number of zero or
    more), else `None`."""
    total = grant.get("total")
    if total is None:
        return None
    value = args.get(total["arg"])
    return float(value) if _number(value) and value >= 0 else None


def preference(grant: Grant) -> tuple[int, str, str, str]:
    """The order grants are tried in for one request: the most specific cover first (a
    thread, then a graph, then a requester, then anyone), then the one expiring soonest,
    then the oldest."""
    covers = grant.get("covers") or {}
    specific = 0 if "thread" in covers else 1 if "graph" in covers else 2 if covers else 3
    return (specific, grant["expires_at"], grant["created_at"], grant["id"])


# ---------------------------------------------------------------- budgets


def counted(claims: Iterable[Claim]) -> list[Claim]:
    """The claims that count against a budget: all but those settled as refused."""
    return [claim for claim in claims if claim.get("verdict") != "refused"]


def claim_fits(grant: Grant, claims: Iterable[Claim]) -> bool:
    """Whether the claims that count among `claims` (a claimant's read, its own claim in it)
    fit `grant`'s budget."""
    left = budget_left(grant, claims)
    return (left["uses"] is None or left["uses"] >= 0) and (
        left["total"] is None or left["total"] >= 0
    )


def budget_left(grant: Grant, claims: Iterable[Claim]) -> Budget:
    """What `grant`'s budget leaves after the claims that count among `claims` (negative
    when they overspend it)."""
    spent = counted(claims)
    uses = grant.get("uses")
    total = grant.get("total")
    left_total: float | None = None
    if total is not None:
        exact = Context(prec=60)
        summed = Decimal(0)
        for claim in spent:
            amount = claim.get("amount")
            if not _number(amount):  # never made so: fail closed
                return Budget(uses=None if uses is None else uses - len(spent), total=-math.inf)
            summed = exact.add(summed, _decimal(amount))
        left_total = float(exact.subtract(_decimal(total["max"]), summed))
    return Budget(uses=None if uses is None else uses - len(spent), total=left_total)


# ---------------------------------------------------------------- describing


def describe_constraint(name: str, constraint: Any) -> str:
    """One constraint in words, e.g. `amount <= 5000` or `target in ['a', 'b']`."""
    if not isinstance(constraint, Mapping):
        return f"{name}: (unreadable)"
    if "eq" in constraint:
        return f"{name} = {constraint['eq']!r}"
    if "in" in constraint:
        return f"{name} in {constraint['in']!r}"
    low, high = constraint.get("min"), constraint.get("max")
    if low is not None and high is not None:
        return f"{low} <= {name} <= {high}"
    return f"{name} >= {low}" if low is not None else f"{name} <= {high}"


def describe_constraints(constraints: Mapping[str, Any]) -> str:
    """Every constraint in words, or "any arguments"."""
    return ", ".join(describe_constraint(n, c) for n, c in sorted(constraints.items())) or (
        "any arguments"
    )


def describe_covers(covers: Mapping[str, Any]) -> str:
    """Whom a grant covers, in words."""
    for kind in ("requester", "graph", "thread"):
        if kind in covers:
            return f"{kind} {covers[kind]}"
    return "anyone"


# ---------------------------------------------------------------- helpers


def _scope_refusal(grant: Grant, facts: Facts, thread_id: str) -> str | None:
    covers = grant.get("covers") or {}
    for kind, actual in (
        ("requester", facts.get("requester")),
        ("graph", facts.get("graph")),
        ("thread", thread_id),
    ):
        if kind in covers and covers[kind] != actual:  # type: ignore[literal-required]
            return f"grant {grant['id']} covers only {describe_covers(covers)}, not {actual!r}"
    return None


def _need_text(need: Need) -> str:
    if need.get("outcome") != "approve":
        return f"no approval at all ({need.get('outcome')})"
    quotas = "; ".join(
        f"{quota['count']} of {', '.join(quota['groups'])}" for quota in need.get("quotas") or []
    )
    return f"{approvals_needed(need)} approval(s): {quotas}"


def _satisfies(value: Any, constraint: Any) -> bool:
    if not isinstance(constraint, Mapping) or not constraint:
        return False
    kinds = set(constraint)
    if kinds == {"eq"}:
        return same_value(value, constraint["eq"])
    if kinds == {"in"}:
        values = constraint["in"]
        return isinstance(values, list) and any(same_value(value, allowed) for allowed in values)
    if kinds <= {"min", "max"}:
        low, high = constraint.get("min"), constraint.get("max")
        if not _number(value):
            return False
        if low is not None and not (_number(low) and value >= low):
            return False
        return high is None or (_number(high) and value <= high)
    return False


def same_value(value: Any, expected: Any) -> bool:
    """Equal as JSON values: numbers by value (never a bool as a number), the rest exactly."""
    if _number(value) or _number(expected):
        return _number(value) and _number(expected) and value == expected
    if isinstance(value, bool) or isinstance(expected, bool):
        return value is expected
    if isinstance(value, Mapping) and isinstance(expected, Mapping):
        keys = value.keys()
        return keys == expected.keys() and all(same_value(value[k], expected[k]) for k in keys)
    if isinstance(value, list) and isinstance(expected, list):
        return len(value) == len(expected) and all(map(same_value, value, expected))
    return type(value) is type(expected) and value == expected


def _number(value: Any) -> TypeGuard[int | float]:
    """A finite JSON number (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _decimal(value: Any) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(int(value))


def _name(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value.strip()) <= MAX_NAME and value == value.strip()


def _covers_refusal(grantor: Identity, covers: Any) -> str | None:
    choices = "`{}` (anyone), or one of `requester`, `graph` or `thread` with its name"
    if covers is None:
        return f"A grant needs `covers`: {choices}."
    kinds = set(Covers.__annotations__)
    if not isinstance(covers, Mapping) or len(covers) > 1 or not set(covers) <= kinds:
        return f"A grant's `covers` is {choices}; got {shown(covers)}."
    if covers and not _name(next(iter(covers.values()))):
        return f"A grant's `covers` names a {next(iter(covers))} by a non-empty name."
    if covers.get("requester") == grantor.user:
        return (
            f"{grantor.user} may not grant approvals of their own requests (four-eyes); a grant "
            "may cover another requester, a graph, a thread or anyone (never its grantor)."
        )
    return None


def _constraints_refusal(constraints: Any) -> str | None:
    forms = '{"eq": value}, {"min": n, "max": n} (either may be left out) or {"in": [values]}'
    if constraints is None:
        return None
    if not isinstance(constraints, Mapping) or len(constraints) > MAX_CONSTRAINTS:
        return f"A grant's `constraints` map at most {MAX_CONSTRAINTS} argument names to {forms}."
    for name, constraint in constraints.items():
        if not _name(name):
            return f"A constraint names an argument by a non-empty name, not {shown(name)}."
        kinds = set(constraint) if isinstance(constraint, Mapping) else set()
        if kinds == {"eq"}:
            continue
        if kinds == {"in"}:
            values = constraint["in"]
            if isinstance(values, list) and 0 < len(values) <= MAX_VALUES:
                continue
            return f"Constraint on {name!r}: `in` lists 1 to {MAX_VALUES} allowed values."
        if kinds and kinds <= {"min", "max"}:
            low, high = constraint.get("min"), constraint.get("max")
            if all(b is None or _number(b) for b in (low, high)) and (
                low is None or high is None or low <= high
            ):
                continue
            return f"Constraint on {name!r}: `min` and `max` are numbers, with min <= max."
        return f"Constraint on {name!r} is {shown(constraint)}; a constraint is {forms}."
    return None


def _budget_refusal(spec: Mapping[str, Any]) -> str | None:
    uses, single = spec.get("uses"), spec.get("single_use")
    if single is not None and not isinstance(single, bool):
        return "A grant's `single_use` is true or false."
    if uses is not None and (
        not isinstance(uses, int) or isinstance(uses, bool) or not 1 <= uses <= MAX_USES
    ):
        return f"A grant's `uses` is a whole number from 1 to {MAX_USES:,} (or absent: no limit)."
    if single and uses not in (None, 1):
        return f"A single-use grant has `uses` 1, not {uses}; drop one of them."
    total = spec.get("total")
    if total is not None and (
        not isinstance(total, Mapping)
        or set(total) != {"arg", "max"}
        or not _name(total["arg"])
        or not _number(total["max"])
        or total["max"] <= 0
    ):
        return (
            'A grant\'s `total` is {"arg": name, "max": number above 0}: the most the named '
            "argument may add up to over the requests it approves."
        )
    return None


def _expiry(spec: Mapping[str, Any], now: datetime) -> datetime | None:
    if spec.get("expires_in") is not None:
        try:
            return now + timedelta(seconds=duration_seconds(spec["expires_in"]))
        except (ValueError, OverflowError):
            return None
    return parse(spec.get("expires_at"))


def _expiry_refusal(spec: Mapping[str, Any], now: datetime) -> str | None:
    return period_refusal(
        "A grant",
        None
        if spec.get("expires_at") is not None and spec.get("expires_in") is not None
        else _expiry(spec, now),
        now,
        "`expires_at` (ISO 8601 with a time zone) or `expires_in` (e.g. 7d)",
    )


def period_refusal(what: str, ends: datetime | None, now: datetime, how: str) -> str | None:
    """Why `ends` is no end for `what` made at `now` (it must be within `MAX_DAYS`), or `None`."""
    if ends is None:
        return f"{what} needs one end: {how}, in the next {MAX_DAYS} days."
    if ends <= now:
        return f"{what} must end in the future, within {MAX_DAYS} days; {stamp(ends)} has passed."
    if ends > now + timedelta(days=MAX_DAYS):
        return (
            f"{what} may last at most {MAX_DAYS} days (until "
            f"{stamp(now + timedelta(days=MAX_DAYS))}); {stamp(ends)} is later."
        )
    return None
