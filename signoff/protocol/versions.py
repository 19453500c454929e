"""Requests raised by another release: the one place an older request shape is upgraded and
a newer one refused.

A paused thread keeps the request its release raised, and a deploy meets threads paused
under the release before. Every reader of pending requests reads them through
`interrupts.approval_interrupts` (and Model Serving through `interrupts.pending_actions`),
which call `version_refusal` then `upgraded` here, so the rest of signoff sees only requests
of `shapes.REQUEST_VERSION`:

- version 1 (no `version` field: the shape before versions) gets its `summary` filled in when
  it has none (it was raised before graphs made summaries) and becomes version 2;
- a newer version, raised by a newer signoff (a rollback, or an old client against a newer
  server), is refused, saying to upgrade signoff: it is skipped and logged, never read as
  something it is not, and it stays pending for a signoff that reads it.

The review node never reads a stored request: on resume it raises its request again with the
code that runs, so an answer resumes a thread paused by an older release unchanged. A
request's `version` is not in its `args_digest`, so an answer that echoes the digest of the
request as an older release showed it still matches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from signoff.protocol.bounds import cut
from signoff.protocol.shapes import REQUEST_VERSION
from signoff.protocol.summaries import summary_of

FIRST_VERSION = 1
"""The version of a request without a `version` field."""


def version_refusal(value: Mapping[str, Any]) -> str | None:
    """Why signoff cannot read the request `value` of this version, or `None` when it can (a
    version from `FIRST_VERSION` to `REQUEST_VERSION`, or none)."""
    version = value.get("version", FIRST_VERSION)
    known = f"this signoff reads versions {FIRST_VERSION} to {REQUEST_VERSION}"
    if isinstance(version, int) and not isinstance(version, bool):
        if FIRST_VERSION <= version <= REQUEST_VERSION:
            return None
        if version > REQUEST_VERSION:
            return (
                f"Request {_id_of(value)} was raised by a newer signoff (request version "
                f"{version}; {known}). Upgrade signoff to list or answer it; it stays pending "
                "until then."
            )
    return (
        f"Request {_id_of(value)} has version {cut(repr(version))}, which no signoff raises: "
        f"a request's version is a whole number, and {known}."
    )


def upgraded(value: Mapping[str, Any]) -> dict[str, Any]:
    """The request `value`, readable and of a version `version_refusal` accepts, as a
    request of `REQUEST_VERSION`."""
    request = dict(value)
    if request.get("version", FIRST_VERSION) == FIRST_VERSION:
        request = _from_version_1(request)
    return request


def _from_version_1(request: dict[str, Any]) -> dict[str, Any]:
    """Version 1 → 2: `version` added; a request raised before summaries gets one."""
    return {**request, "summary": summary_of(request), "version": 2}


def _id_of(value: Mapping[str, Any]) -> str:
    """The request's id as a refusal names it."""
    request_id = value.get("request_id")
    return cut(request_id) if isinstance(request_id, str) else cut(repr(request_id))
