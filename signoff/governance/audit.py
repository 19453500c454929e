"""The audit trail: every decision, signed and chained so nobody can forge it.

Every human decision, withdrawal, auto-approval and admin state edit on a thread is one
`AuditEntry` in the thread's `audit` state. This module is the only place entries are built,
signed and verified:

- **Signed.** Each entry carries an HMAC-SHA256 `signature` over its content, the entry it
  follows (`prev`) and the thread's id, under a key only the server holds:
  `SIGNOFF_AUDIT_KEY`, or in development a random key generated once into
  `.signoff/audit.key`. Set the variable (e.g. from a Databricks secret) wherever several
  processes share threads, so that all of them sign and verify alike.
- **Chained.** `prev` is the signature of the entry before it (`""` for a thread's first).
  Parallel reviews (several tool calls in one model message) are siblings: each follows the
  entry its own task saw, so an entry follows either the one before it or the same entry as
  that one.
- **Verified before anything runs.** `trail_problem` refuses a trail with any entry unsigned,
  altered, signed for another thread, repeated, out of order or cut from the middle;
  execution (`signoff.execution.approved`) runs nothing on such a trail, even if an admin wrote it
  through the state API. `verify_thread` checks the whole trail of a thread's state.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, NotRequired, TypedDict, get_origin, get_type_hints

from signoff.clock import stamp
from signoff.governance.identity import run_thread_id
from signoff.protocol.shapes import SYSTEM, ApprovalRequest, Chain, Decision, Need, args_to_run
from signoff.settings import environment

DEV_KEY_FILE = Path(".signoff/audit.key")


class AuditEntry(TypedDict):
    """One recorded decision."""

    stage: str
    """The approval stage, e.g. `"review"`, `"manager"`, or `"state"` for a state edit."""

    action: str
    """The action or tool the decision was about."""

    decision: str
    """approve, edit, reject, respond, withdraw, auto_approve or state_edit."""

    reviewer: str
    """Who decided: the authenticated user, or `"system"` for policy rules."""

    at: str
    """UTC timestamp, ISO 8601."""

    comment: str | None
    """The reviewer's message, or the rule that auto-approved."""

    args_before: dict[str, Any]
    """The arguments shown to the reviewer (for a state edit: the state keys as they were)."""

    args_after: dict[str, Any] | None
    """The arguments that run (edited or as shown); `None` when nothing runs."""

    prev: str
    """The signature of the entry this one follows; `""` for the thread's first entry."""

    signature: str
    """HMAC-SHA256 (hex) of the entry, `prev` and the thread id under the server's key."""

    request_id: NotRequired[str]
    """The approval request this answers, when there was one."""

    args_digest: NotRequired[str]
    """The `args_digest` of that request: the arguments shown, its policy and its chain."""

    chain: NotRequired[Chain]
    """For a stage of a chain: the chain as it was raised (its id and every stage)."""

    call_id: NotRequired[str]
    """For tool reviews: the id of the tool call decided."""

    escalated_to: NotRequired[str]
    """The reviewer could decide only because the request had escalated to this group."""

    changes: NotRequired[dict[str, dict[str, Any]]]
    """For edits: each changed argument's before/after, and a unified diff for text."""

    need: NotRequired[Need]
    """Whose approvals the request needed (its policy requirement, as raised): execution
    counts the quorum against it."""

    raised_at: NotRequired[str]
    """When the request was raised (its `created_at`): every vote of one request keeps it."""

    groups: NotRequired[list[str]]
    """The deciding groups the reviewer decided as (theirs, or their delegator's)."""

    on_behalf_of: NotRequired[str]
    """The person whose right to decide the reviewer used (delegation)."""

    grant: NotRequired[dict[str, str]]
    """For an approval by a standing grant: its `id` and who granted it (`granted_by`)."""


ENTRY_FIELDS = frozenset(
    name
    for name, hint in get_type_hints(AuditEntry, include_extras=True).items()
    if get_origin(hint) is not NotRequired
)
"""The fields every audit entry has."""


def decision_entries(
    request: ApprovalRequest,
    decisions: list[Decision],
    reviewer: str,
    trail: list[AuditEntry],
    call_id: str | None = None,
    escalated_to: str | None = None,
    groups: list[str] | None = None,
    on_behalf_of: str | None = None,
    grant: dict[str, str] | None = None,
) -> list[AuditEntry]:
    """Signed entries for one answer to `request`, one per action, following `trail`: what
    was shown, what was decided and what will run; the request's need and when it was raised;
    and how the reviewer could decide (the `groups` they decided as, the group it escalated
    to, whom they stood in for, or the standing `grant` that approved it)."""
    entries = []
    for action, decision in zip(request["action_requests"], decisions, strict=True):
        entry = _entry(
            stage=request["stage"],
            action=action["name"],
            decision=decision["type"],
            reviewer=reviewer,
            args_before=action["args"],
            args_after=args_to_run(action, decision),
            comment=message if isinstance(message := decision.get("message"), str) else None,
        )
        entry["request_id"] = request["request_id"]
        entry["args_digest"] = request["args_digest"]
        if "chain" in request:
            entry["chain"] = request["chain"]
        if call_id is not None:
            entry["call_id"] = call_id
        if escalated_to is not None:
            entry["escalated_to"] = escalated_to
        if "need" in request:
            entry["need"] = request["need"]
        entry["raised_at"] = request["created_at"]
        for name, value in (("groups", groups), ("on_behalf_of", on_behalf_of), ("grant", grant)):
            if value is not None:
                entry[name] = value  # type: ignore[literal-required]
        entries.append(entry)
    return signed(entries, trail)


def auto_approval_entry(
    action: str,
    args: dict[str, Any],
    rule: str,
    request_id: str,
    trail: list[AuditEntry],
    need: Need | None = None,
) -> AuditEntry:
    """The signed entry for the policy (not a person) approving `action` with `args` (by the
    requirement `need` names, when one did)."""
    entry = _entry(
        stage="policy",
        action=action,
        decision="auto_approve",
        reviewer=SYSTEM,
        args_before=args,
        args_after=args,
        comment=rule,
    )
    entry["request_id"] = request_id
    if need is not None:
        entry["need"] = need
    return signed([entry], trail)[0]


def state_edit_entry(
    editor: str,
    before: dict[str, Any],
    after: dict[str, Any],
    as_node: str | None,
    trail: list[AuditEntry],
    thread_id: str,
) -> AuditEntry:
    """The signed entry for an admin's direct state edit: the keys written, before and after."""
    entry = _entry(
        stage="state",
        action="update_state",
        decision="state_edit",
        reviewer=editor,
        args_before=before,
        args_after=after,
        comment=f"written as node {as_node!r} through the state API",
    )
    return signed([entry], trail, thread_id)[0]


def _entry(
    *,
    stage: str,
    action: str,
    decision: str,
    reviewer: str,
    args_before: dict[str, Any],
    args_after: dict[str, Any] | None,
    comment: str | None,
) -> AuditEntry:
    """An unsigned entry stamped now; edits (args that differ) also get their `changes`."""
    entry = AuditEntry(
        stage=stage,
        action=action,
        decision=decision,
        reviewer=reviewer,
        at=stamp(),
        comment=comment,
        args_before=args_before,
        args_after=args_after,
        prev="",
        signature="",
    )
    if args_after is not None and args_after != args_before:
        entry["changes"] = changes_between(args_before, args_after)
    return entry


def signed(
    entries: list[AuditEntry], trail: list[AuditEntry], thread_id: str | None = None
) -> list[AuditEntry]:
    """`entries` chained after the last entry of `trail` and signed for the thread (the running
    graph's, unless `thread_id` is given)."""
    thread = thread_id if thread_id is not None else run_thread_id()
    prev = trail[-1]["signature"] if trail else ""
    chained = []
    for entry in entries:
        entry = AuditEntry(**{**entry, "prev": prev, "signature": ""})
        entry["signature"] = _signature(entry, thread)
        chained.append(entry)
        prev = entry["signature"]
    return chained


def trail_problem(trail: Any, thread_id: str | None = None) -> str | None:
    """Why `trail` cannot be trusted for the thread (the running graph's unless given), or
    `None` when every entry is signed by this server's key for this thread and in order."""
    thread = thread_id if thread_id is not None else run_thread_id()
    if not isinstance(trail, list):
        return "the audit trail is not a list of entries"
    seen: set[str] = set()
    before: dict[str, Any] | None = None
    for position, entry in enumerate(trail, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("signature"), str):
            return f"entry {position} is not signed"
        signature, prev = entry["signature"], entry.get("prev")
        if not hmac.compare_digest(signature.encode(), _signature(entry, thread).encode()):
            return (
                f"entry {position} ({entry.get('decision')} by {entry.get('reviewer')}) was "
                "altered, forged, or signed for another thread"
            )
        if signature in seen:
            return f"entry {position} repeats an earlier entry"
        follows = "" if before is None else before["signature"]
        sibling = None if before is None else before.get("prev")
        if prev not in (follows, sibling):
            return f"entry {position} is out of order: it does not follow the entry before it"
        seen.add(signature)
        before = entry
    return None


def verify_thread(values: dict[str, Any], thread_id: str) -> str | None:
    """Why the audit trail in a thread's state `values` cannot be trusted, or `None`."""
    return trail_problem(values.get("audit") or [], thread_id)


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


def _signature(entry: Mapping[str, Any], thread_id: str) -> str:
    content = {key: value for key, value in entry.items() if key != "signature"}
    canonical = json.dumps(
        {"thread_id": thread_id, "entry": content},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hmac.new(audit_key(), canonical.encode(), hashlib.sha256).hexdigest()


@cache
def audit_key() -> bytes:
    """The signing key: `SIGNOFF_AUDIT_KEY`, else the development key in `.signoff/audit.key`
    (created on first use, readable by its owner only). Blocking on first call."""
    if configured := environment().audit_key:
        return configured.encode()
    DEV_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    if not DEV_KEY_FILE.exists():
        draft = DEV_KEY_FILE.with_name(f"audit.key.{secrets.token_hex(8)}")
        draft.write_text(secrets.token_hex(32), encoding="utf-8")
        draft.chmod(0o600)
        try:
            os.link(draft, DEV_KEY_FILE)  # atomic: of two processes, the first key wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return DEV_KEY_FILE.read_text(encoding="utf-8").strip().encode()
