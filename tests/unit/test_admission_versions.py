"""A request of a version this signoff cannot read is still pending to the server's admission
(`signoff.server.admission.run_refusal`): new input, a run-on (even an admin's) is 409 saying
to answer it with a signoff that reads it, and an answer here is 409 saying to upgrade; a
request of a known version is admitted as before."""

from __future__ import annotations

from typing import Any

import pytest

from signoff.governance.identity import Identity
from signoff.governance.visibility import OWNER, VIEWERS
from signoff.protocol.shapes import REQUEST_VERSION, ActionRequest, build_request
from signoff.protocol.versions import version_refusal
from signoff.server.admission import RunRequest, ThreadFacts, run_refusal
from tests.dev_users import GROUPS, user_name

ALICE = Identity(user_name("alice"), frozenset(GROUPS[user_name("alice")]))
BOB = Identity(user_name("bob"), frozenset(GROUPS[user_name("bob")]))
ADMIN = Identity(user_name("erin"), frozenset(GROUPS[user_name("erin")]))


def request(version: int) -> dict[str, Any]:
    """A payment alice raised, for managers to decide, of request version `version`."""
    raised = build_request(
        [ActionRequest(name="payment", args={"amount": 5000, "target": "acct-9"})],
        [["approve", "reject"]],
        request_id="r-1",
        stage="review",
        requested_by=ALICE.user,
        decided_by=["managers"],
        deadlines={"created_at": "2026-11-30T10:00:00.000+00:00"},
    )
    return {**raised, "version": version}


def thread(version: int) -> ThreadFacts:
    """A thread of approve_reject that waits on one request of `version` (alice and bob see it)."""
    return ThreadFacts(
        thread_id="t-1",
        metadata={
            "graph_id": "approve_reject",
            "assistant_id": "approve_reject",
            OWNER: ALICE.user,
            VIEWERS: [f"user:{ALICE.user}", f"user:{BOB.user}"],
        },
        started=True,
        values={"status": "pending"},
        interrupts=[{"id": "i-1", "value": request(version)}],
    )


def run(**kwargs: Any) -> RunRequest:
    return RunRequest("t-1", "approve_reject", "approve_reject", kwargs)


NEWER = REQUEST_VERSION + 1


@pytest.mark.parametrize(
    ("who", "kwargs"),
    [
        (ALICE, {"input": {"operation": {"kind": "payment", "amount": 1}}}),
        (ALICE, {}),
        (ADMIN, {}),
        (ADMIN, {"input": {"operation": {"kind": "payment", "amount": 1}}}),
    ],
)
def test_a_newer_request_takes_no_input_and_no_run_on(who: Identity, kwargs: dict[str, Any]):
    refusal = run_refusal(who, run(**kwargs), thread(NEWER))

    assert refusal is not None and refusal.status == 409
    assert version_refusal(request(NEWER)) is not None
    assert "waits on a request this signoff cannot read" in refusal.detail
    assert str(version_refusal(request(NEWER))) in refusal.detail
    assert "Answer it with a signoff that reads its version" in refusal.detail


def test_an_answer_to_a_newer_request_is_told_to_upgrade():
    refusal = run_refusal(BOB, run(command={"resume": {"type": "approve"}}), thread(NEWER))

    assert refusal is not None and refusal.status == 409
    assert "Upgrade signoff to list or answer it" in refusal.detail


def test_a_request_of_a_known_version_is_admitted_as_before():
    known = thread(REQUEST_VERSION)
    refusal = run_refusal(ALICE, run(input={"operation": {}}), known)
    assert refusal is not None and refusal.status == 409
    assert "takes no new input" in refusal.detail
    assert run_refusal(ADMIN, run(), known) is None
