"""Signing standing records (grants, their claims, delegations, standing audit events) like
audit entries.

A record's `signature` is an HMAC-SHA256 under the server's audit key
(`signoff.governance.audit.audit_key`) of the record without its signature, in canonical JSON,
together with a scope (`"grant"`, `"claim"`, `"delegation"`, `"standing_audit"`): a record
signed as one kind never passes as another. Numbers are canonical too (an integral float as
its integer), so a record that went through a JSON column (PostgreSQL's `jsonb` writes `1e3`
back as `1000`) still verifies. A record whose signature does not verify is a forgery, and
`signoff.standing` ignores it everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from signoff.governance.audit import audit_key

Scope = Literal["grant", "claim", "delegation", "standing_audit"]
Record = TypeVar("Record", bound=Mapping[str, Any])


def signature_of(record: Mapping[str, Any], scope: Scope) -> str:
    """The signature `record` (its fields but `signature`) should carry as a `scope` record."""
    content = {key: value for key, value in record.items() if key != "signature"}
    canonical = json.dumps(
        {"scope": scope, "record": _plain(content)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hmac.new(audit_key(), canonical.encode(), hashlib.sha256).hexdigest()


def sign(record: Record, scope: Scope) -> Record:
    """`record` with its `signature` set (in place, and returned)."""
    record["signature"] = signature_of(record, scope)  # type: ignore[index]
    return record


def verifies(record: Any, scope: Scope) -> bool:
    """Whether `record` is a mapping signed by this server's key as a `scope` record."""
    if not isinstance(record, Mapping) or not isinstance(record.get("signature"), str):
        return False
    expected = signature_of(record, scope)
    return hmac.compare_digest(record["signature"].encode(), expected.encode())


def _plain(value: Any) -> Any:
    """`value` with every integral float as an int, keys and lists kept as they are."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(key): _plain(member) for key, member in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(member) for member in value]
    return value
