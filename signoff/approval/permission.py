"""Whether a resume may be applied at all: the check before an answer reaches a thread.

An expiry (`{"type": "expire", "request_id"}`) may come from anyone once the request's
`expires_at` has passed, and from nobody before.

The server's auth (`signoff.admission`) and `SignoffAgent` both call `resume_refusal` before a
resume is written, so an answer from someone the policy refuses is a 403 (or an error reply)
and the thread stays exactly as it was. The review node applies the same policy again.
"""

from __future__ import annotations

from typing import Any

from signoff.approval.parsing import expiry_in, withdrawal_in
from signoff.deadlines import is_due
from signoff.identity import Identity
from signoff.policy import decision_refusal


def resume_refusal(
    identity: Identity | None, pending: dict[str, dict[str, Any]], resume: Any
) -> str | None:
    """Why `identity` may not send `resume` to a thread waiting on `pending` (interrupt id →
    request), or `None`. A map keyed by pending interrupt ids answers those; any other value
    answers every pending request."""
    if isinstance(resume, dict) and resume and set(resume) <= set(pending):
        answered = {interrupt_id: resume[interrupt_id] for interrupt_id in resume}
    else:
        answered = dict.fromkeys(pending, resume)
    for interrupt_id, answer in answered.items():
        if (expiring := expiry_in(answer)) is not None:
            if refusal := _expiry_refusal(pending[interrupt_id], expiring):
                return refusal
            continue
        withdrawing = withdrawal_in(answer) is not None
        if refusal := decision_refusal(identity, pending[interrupt_id], withdrawing=withdrawing):
            return refusal
    return None


def _expiry_refusal(request: dict[str, Any], request_id: str) -> str | None:
    """Anyone (the sweeper, `signoff sweep`) may expire a request once its time has come."""
    if request_id == request.get("request_id") and is_due(request, "expires_at"):
        return None
    when = request.get("expires_at")
    return (
        f"Request {request.get('request_id')} cannot be expired "
        + (f"before {when}" if when else "at all: its policy sets no expiry")
        + f"; until then it is decided by a member of {', '.join(request.get('decided_by', []))}."
    )
