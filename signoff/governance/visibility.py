"""Who may see a thread: its state, the arguments it shows and its audit trail.

A thread is visible to

- its requesters: whoever created it, and whoever raised a request on it;
- anyone who may decide one of its pending requests, now or after it escalates (a member of
  the request's `decided_by` groups or of its `escalate_to` group), and anyone who may decide
  the request a single-action graph has in progress (its policy in state: while an admin's
  edit hides it until it is shown again, or after it was approved and before it ran);
- everyone who decided one of its requests (the reviewers on its audit trail);
- admins.

`viewers_of` computes the thread's viewers as *principals* (`user:<name>`, `group:<name>`)
from its metadata, state values and pending interrupts; `may_see` checks one identity against
them. The server keeps the principals in the thread's metadata under `VIEWERS` (see
`signoff.server.thread_facts`), so that `threads.search` can filter by them (`search_filter`): the
server's auth filters are metadata filters. Users once seen stay viewers; groups are those of
the requests pending now. Clients never set these keys (`RESERVED_METADATA`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from signoff.governance.identity import Identity
from signoff.governance.policy import admin_groups, is_admin
from signoff.protocol.interrupts import approval_interrupts
from signoff.protocol.shapes import SYSTEM

OWNER = "signoff_owner"
"""Thread metadata: the user who created the thread (set by the server's auth)."""

VIEWERS = "signoff_viewers"
"""Thread metadata: the principals that may see the thread (kept by the server)."""

RESERVED_METADATA = (OWNER, VIEWERS)
"""Metadata keys only the server writes."""

WHO_MAY_SEE = (
    "A thread is visible to its requester, to whoever may decide its pending requests (now or "
    "after they escalate), to whoever decided its requests, and to members of {admins}."
)


def user_principal(name: str) -> str:
    """The principal of user `name`."""
    return f"user:{name}"


def group_principal(name: str) -> str:
    """The principal of every member of group `name`."""
    return f"group:{name}"


def principals_of(identity: Identity) -> list[str]:
    """Everything `identity` is: its user and its groups (and those of whom it stands in for
    by delegation), as principals."""
    groups = sorted(identity.groups | identity.stands_in)
    return [user_principal(identity.user), *map(group_principal, groups)]


def viewers_of(
    metadata: Mapping[str, Any], values: Any, interrupts: Iterable[dict[str, Any]]
) -> frozenset[str]:
    """The principals that may see a thread with this metadata, state `values` and pending
    `interrupts` (server `{"id", "value"}` records). Malformed parts are skipped."""
    kept = metadata.get(VIEWERS)
    users = (
        {p for p in kept if isinstance(p, str) and p.startswith("user:")}
        if isinstance(kept, list)
        else set()
    )
    names = [metadata.get(OWNER)]
    groups: list[Any] = []
    if isinstance(values, Mapping):
        names.append(values.get("requested_by"))
        audit = values.get("audit")
        if isinstance(audit, list):
            names += [entry.get("reviewer") for entry in audit if isinstance(entry, dict)]
        groups += _deciders_in_progress(values)
    for interrupt in approval_interrupts(interrupts):
        request = interrupt["value"]
        names.append(request.get("requested_by"))
        decided_by = request.get("decided_by")
        groups += decided_by if isinstance(decided_by, list) else []
        groups.append(request.get("escalate_to"))
    users |= {user_principal(n) for n in names if isinstance(n, str) and n and n != SYSTEM}
    return frozenset(users | {group_principal(g) for g in groups if isinstance(g, str) and g})


def _deciders_in_progress(values: Mapping[str, Any]) -> list[Any]:
    """The groups of the policies a single-action graph's state fixed for the request it has
    in progress (no `status` yet): `policy`, or a chain's `policies` by stage."""
    if values.get("status") or "policy" not in values and "policies" not in values:
        return []
    policies = values.get("policies")
    stages = list(policies.values()) if isinstance(policies, Mapping) else []
    groups: list[Any] = []
    for policy in [values.get("policy"), *stages]:
        if isinstance(policy, Mapping):
            decided_by = policy.get("decided_by")
            groups += decided_by if isinstance(decided_by, list) else []
            groups.append(policy.get("escalate_to"))
    return groups


def may_see(identity: Identity | None, viewers: frozenset[str]) -> bool:
    """Whether `identity` may see a thread whose viewers are `viewers`."""
    if identity is None:
        return False
    return is_admin(identity) or not viewers.isdisjoint(principals_of(identity))


def search_filter(identity: Identity | None) -> dict[str, Any] | None:
    """The server's metadata filter that keeps the threads `identity` may see (`None` for an
    admin: every thread)."""
    if is_admin(identity):
        return None
    assert identity is not None  # the server's auth signs everyone in
    clauses = [{VIEWERS: {"$contains": principal}} for principal in principals_of(identity)]
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


def not_visible(thread_id: str, identity: Identity | None) -> str:
    """The refusal for a thread `identity` may not see (or that does not exist)."""
    who = identity.user if identity else "An unidentified caller"
    return f"There is no thread {thread_id} that {who} may see. " + WHO_MAY_SEE.format(
        admins=", ".join(admin_groups())
    )
