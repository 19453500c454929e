"""Who may use which part of the server's store: each user their own namespaces.

signoff's graphs keep nothing in the store; it is there for applications built beside them.
So that one user can never read, overwrite or delete another's items, a non-admin's
namespaces start with their own label (`root_of`: the user name with its periods, which the
store does not allow in a label, written `%2E`): `("alice@signoff%2Elocal", "notes")`. A
search or a listing without a prefix is scoped to the user's own; any other namespace is
refused (403, naming the namespaces they may use). Admins use any namespace. Values stored
are bounded like everything else a client sends (`signoff.protocol.bounds`).

signoff's own records live under the label `signoff` (`signoff.standing.store`: standing
grants, their budgets' claims, delegations and their audit). Nobody writes or deletes there
through the store API, admins included (`write_refusal`): no grant can be forged, no one
else's deleted and no spent budget reset; signoff writes them itself, in the server. Admins
may still read them. A user whose name is `signoff` gets the root `%73ignoff` (its first
letter percent-encoded), so no one's own namespaces are signoff's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from signoff.governance.identity import Identity
from signoff.governance.policy import is_admin
from signoff.protocol.bounds import OutOfBounds, check_bounds
from signoff.server.admission import Refusal

PROTECTED = "signoff"
"""The first label of signoff's own namespaces: no client writes under it."""


def root_of(identity: Identity) -> str:
    """The first label of every namespace `identity` may use: its user name, with `%` and
    `.` percent-encoded (a store label may not hold a period), and never `PROTECTED`."""
    root = identity.user.replace("%", "%25").replace(".", "%2E")
    return "%73" + root[1:] if root == PROTECTED else root


def write_refusal(action: str, namespace: Sequence[str] | None) -> Refusal | None:
    """Why nobody may `action` (a store action) in `namespace`: a write or delete under
    signoff's own label; `None` otherwise."""
    if action in ("put", "delete") and namespace and namespace[0] == PROTECTED:
        return Refusal(
            403,
            f"Nobody writes or deletes under the store namespace {PROTECTED!r} through the store "
            "API, admins included: signoff keeps grants, their budgets and delegations there. "
            "Grant and revoke through POST/DELETE /signoff/grants (`signoff grant`, `signoff "
            "revoke`) and delegate through /signoff/delegations; your own items belong in "
            "namespaces that start with your user name.",
        )
    return None


def scoped(identity: Identity | None, namespace: Sequence[str] | None) -> tuple[str, ...]:
    """The namespace `identity` may use for `namespace` (its own root when none is given);
    raises `Refusal` for anyone else's."""
    if is_admin(identity):
        return tuple(namespace or ())
    if identity is None:
        raise Refusal(403, "The store needs a signed-in user.")
    root = root_of(identity)
    if not namespace:
        return (root,)
    if namespace[0] != root:
        raise Refusal(
            403,
            f"{identity.user} may use only store namespaces that start with {root!r}, such as "
            f"({root!r}, 'notes'); {tuple(namespace)!r} is not one of them.",
        )
    return tuple(namespace)


def checked_value(value: Any) -> None:
    """Raise `Refusal` (422) for a store value out of bounds."""
    try:
        check_bounds(value, "store value")
    except OutOfBounds as error:
        raise Refusal(422, str(error)) from None
