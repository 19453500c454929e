"""Who may use which part of the server's store: each user their own namespaces.

signoff's graphs keep nothing in the store; it is there for applications built beside them.
So that one user can never read, overwrite or delete another's items, a non-admin's
namespaces start with their own label (`root_of`: the user name with its periods, which the
store does not allow in a label, written `%2E`): `("alice@signoff%2Elocal", "notes")`. A
search or a listing without a prefix is scoped to the user's own; any other namespace is
refused (403, naming the namespaces they may use). Admins use any namespace. Values stored
are bounded like everything else a client sends (`signoff.protocol.bounds`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from signoff.governance.identity import Identity
from signoff.governance.policy import is_admin
from signoff.protocol.bounds import OutOfBounds, check_bounds
from signoff.server.admission import Refusal


def root_of(identity: Identity) -> str:
    """The first label of every namespace `identity` may use: its user name, with `%` and
    `.` percent-encoded (a store label may not hold a period)."""
    return identity.user.replace("%", "%25").replace(".", "%2E")


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
