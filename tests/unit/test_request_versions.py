"""Request versions: what a release raises, how older requests are upgraded on reading, and how
newer ones are refused, saying to upgrade signoff, without failing any reader."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langgraph.types import Interrupt

from signoff.protocol.interrupts import (
    approval_interrupts,
    pending_actions,
    readable_request,
    version_refusals,
)
from signoff.protocol.shapes import REQUEST_VERSION, ActionRequest, build_request
from signoff.protocol.versions import upgraded, version_refusal
from tests.property_settings import EXAMPLES

PAYMENT = ActionRequest(name="payment", args={"amount": 5000, "target": "acct-9"})


def current(**changes: Any) -> dict[str, Any]:
    """A request as this release raises it, with `changes`."""
    request = build_request(
        [PAYMENT],
        [["approve", "reject"]],
        request_id="r-1",
        stage="review",
        requested_by="alice@signoff.local",
        decided_by=["managers"],
        deadlines={"created_at": "2026-11-30T10:00:00.000+00:00"},
        summary="payment of 5,000 to acct-9 for invoice 7",
    )
    return {**request, **changes}


def version_1(*, summary: bool = True) -> dict[str, Any]:
    """A request as releases before versions raised it (`summary=False`: before summaries)."""
    request = current()
    del request["version"]
    if not summary:
        del request["summary"]
    return request


def read(value: Any) -> list[dict[str, Any]]:
    """The values `approval_interrupts` reads out of one interrupt holding `value`."""
    return [record["value"] for record in approval_interrupts([{"id": "i-1", "value": value}])]


def test_this_release_raises_the_current_version():
    assert current()["version"] == REQUEST_VERSION == 2
    assert read(current()) == [current()]


def test_a_request_without_version_is_version_1_and_read_as_the_current_one():
    [request] = read(version_1())
    assert request == current()


def test_a_request_from_before_summaries_gets_one_of_its_first_action():
    [request] = read(version_1(summary=False))
    assert request["version"] == REQUEST_VERSION
    assert request["summary"] == "payment of 5,000 to acct-9"


def test_the_digest_an_older_release_showed_is_the_digest_of_the_upgraded_request():
    assert upgraded(version_1())["args_digest"] == current()["args_digest"]


def test_a_newer_request_is_refused_saying_to_upgrade_signoff(caplog):
    with caplog.at_level(logging.WARNING, "signoff.protocol.interrupts"):
        assert read(current(version=REQUEST_VERSION + 1)) == []
    assert (
        f"Request r-1 was raised by a newer signoff (request version {REQUEST_VERSION + 1}; "
        f"this signoff reads versions 1 to {REQUEST_VERSION}). Upgrade signoff to list or "
        "answer it; it stays pending until then."
    ) in caplog.text
    assert not readable_request(current(version=REQUEST_VERSION + 1))


@pytest.mark.parametrize("version", [0, -1, True, 1.5, "2", None, [2], {"v": 2}])
def test_a_version_no_signoff_raises_is_refused_as_such(version):
    refusal = version_refusal(current(version=version))
    assert refusal == (
        f"Request r-1 has version {version!r}, which no signoff raises: a request's version "
        f"is a whole number, and this signoff reads versions 1 to {REQUEST_VERSION}."
    )
    assert read(current(version=version)) == []


def test_an_answer_to_a_newer_request_is_told_to_upgrade_signoff():
    interrupts = [
        {"id": "newer", "value": current(version=REQUEST_VERSION + 1)},
        {"id": "old", "value": version_1()},
        {"id": "other", "value": {"question": "not a request"}},
    ]
    [refusal] = version_refusals(interrupts)
    assert refusal == version_refusal(current(version=REQUEST_VERSION + 1))
    assert "Upgrade signoff to list or answer it" in refusal


def test_model_serving_lists_the_actions_it_can_read_and_skips_a_newer_request():
    interrupts = [
        Interrupt(value=version_1(summary=False), id="old"),
        Interrupt(value=current(version=REQUEST_VERSION + 1, request_id="r-2"), id="newer"),
    ]
    [action] = pending_actions(interrupts)
    assert (action["id"], action["summary"]) == ("old", "payment of 5,000 to acct-9")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@EXAMPLES
@given(version=st.one_of(st.integers(), JSON), summary=st.booleans())
def test_any_version_is_read_upgraded_or_refused_never_failing_a_reader(version, summary):
    request = {**version_1(summary=summary), "version": version}
    refusal = version_refusal(request)
    listed = read(request)
    known = isinstance(version, int) and not isinstance(version, bool) and 1 <= version <= 2
    if known:
        assert refusal is None
        [read_as] = listed
        assert read_as["version"] == REQUEST_VERSION and read_as["summary"]
    else:
        assert listed == [] and refusal is not None and refusal.startswith("Request r-1 ")
        newer = isinstance(version, int) and not isinstance(version, bool) and version > 2
        assert ("Upgrade signoff" in refusal) == newer
    assert [a["id"] for a in pending_actions([Interrupt(value=request, id="i")])] == (
        ["i"] if known else []
    )
