"""Who may see a thread, and whose store items: the rules themselves, in process."""

from __future__ import annotations

import pytest

from signoff.governance.identity import Identity
from signoff.governance.visibility import OWNER, VIEWERS, may_see, search_filter, viewers_of
from signoff.server.admission import Refusal
from signoff.server.store_scope import root_of, scoped
from tests.in_process import dev_identity

REQUEST = {
    "action_requests": [{"name": "payment", "args": {"amount": 5000}}],
    "review_configs": [{"action_name": "payment", "allowed_decisions": ["approve"]}],
    "request_id": "r1",
    "args_digest": "d",
    "stage": "review",
    "requested_by": "alice@signoff.local",
    "decided_by": ["managers"],
    "escalate_to": "signoff-admins",
    "error": None,
}


def test_a_pending_request_is_seen_by_its_requester_deciders_and_escalation_group():
    viewers = viewers_of({OWNER: "alice@signoff.local"}, {}, [{"id": "i", "value": REQUEST}])
    assert viewers == {"user:alice@signoff.local", "group:managers", "group:signoff-admins"}
    assert may_see(dev_identity("bob"), viewers)  # a manager
    assert not may_see(dev_identity("carol"), viewers)  # security
    assert may_see(dev_identity("erin"), viewers)  # an admin
    assert not may_see(None, viewers)


def test_once_decided_only_its_people_see_it_and_users_once_seen_stay():
    audit = [{"reviewer": "bob@signoff.local"}, {"reviewer": "system"}, "not an entry"]
    values = {"requested_by": "dave@signoff.local", "audit": audit}
    kept = {VIEWERS: ["user:alice@signoff.local", "group:managers", 7]}
    viewers = viewers_of(kept, values, [])
    assert viewers == {
        "user:alice@signoff.local",
        "user:dave@signoff.local",
        "user:bob@signoff.local",
    }
    assert not may_see(Identity("zoe@signoff.local", frozenset({"managers"})), viewers)


def test_the_search_filter_matches_any_of_the_callers_principals_and_admins_see_all():
    assert search_filter(dev_identity("erin")) is None
    assert search_filter(Identity("x@y", frozenset())) == {VIEWERS: {"$contains": "user:x@y"}}
    assert search_filter(dev_identity("bob")) == {
        "$or": [
            {VIEWERS: {"$contains": principal}}
            for principal in (
                "user:bob@signoff.local",
                "group:managers",
                "group:support-leads",
                "group:users",
            )
        ]
    }


def test_the_store_scopes_each_user_to_namespaces_under_their_own_label():
    alice = dev_identity("alice")
    assert root_of(alice) == "alice@signoff%2Elocal"
    assert root_of(Identity("a%.b", frozenset())) == "a%25%2Eb"  # no two users share a label
    assert scoped(alice, None) == ("alice@signoff%2Elocal",)
    assert scoped(alice, ["alice@signoff%2Elocal", "notes"]) == ("alice@signoff%2Elocal", "notes")
    with pytest.raises(Refusal) as refused:
        scoped(alice, ["bob@signoff%2Elocal", "notes"])
    assert refused.value.status == 403 and "start with 'alice@signoff%2Elocal'" in str(
        refused.value
    )
    assert scoped(dev_identity("erin"), ["bob@signoff%2Elocal"]) == ("bob@signoff%2Elocal",)
