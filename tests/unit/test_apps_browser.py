"""Which requests the Databricks App takes from a signed-in browser: one that would change
something only from the App's own pages, as JSON; reads, the inbox and scripts as before."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.types import Scope

from signoff.apps.server import browser_refusal
from tests.property_settings import EXAMPLES

HOST = "app.example:8443"
OWN = f"https://{HOST}"
PATHS = st.sampled_from(
    ["/threads/t/runs/wait", "/api/invocations", "/signoff/grants", "/signoff/delegations"]
)
CHANGING = st.sampled_from(["POST", "PUT", "PATCH", "DELETE"])


def scope(method: str, path: str, **headers: str) -> Scope:
    """An HTTP request's scope with `headers` (underscores as dashes)."""
    raw = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    return {
        "type": "http",
        "method": method,
        "path": path,
        "scheme": "https",
        "headers": [(b"host", HOST.encode()), *raw],
    }


@EXAMPLES
@given(
    method=CHANGING, path=PATHS, origin=st.text(max_size=30).filter(lambda o: HOST not in o.lower())
)
def test_a_browsers_change_from_another_origin_is_refused_naming_the_apps_own(
    method: str, path: str, origin: str
) -> None:
    refusal = browser_refusal(
        scope(
            method,
            path,
            x_forwarded_access_token="t",
            origin=origin,
            content_type="application/json",
        )
    )
    assert refusal is not None and refusal.status_code == 403
    assert f"accepted only from {OWN}".encode() in refusal.body


@EXAMPLES
@given(
    method=CHANGING, path=PATHS, media=st.sampled_from(["text/plain", "", "multipart/form-data"])
)
def test_a_browsers_change_that_is_not_json_is_refused_saying_to_send_json(
    method: str, path: str, media: str
) -> None:
    refusal = browser_refusal(
        scope(method, path, x_forwarded_access_token="t", origin=OWN, content_type=media)
    )
    assert refusal is not None and refusal.status_code == 415
    assert b"Content-Type: application/json" in refusal.body


@EXAMPLES
@given(method=CHANGING, path=PATHS)
def test_the_apps_own_pages_scripts_reads_and_the_inbox_are_served(method: str, path: str) -> None:
    json_body = "application/json; charset=utf-8"
    own = scope(
        method,
        path,
        x_forwarded_access_token="t",
        origin=OWN,
        content_type=json_body,
        sec_fetch_site="same-origin",
    )
    script = scope(method, path, authorization="Bearer t", origin="https://evil.example")
    read = scope("GET", path, x_forwarded_access_token="t", origin="https://evil.example")
    inbox = scope("POST", "/inbox/t/answer", x_forwarded_access_token="t")
    assert [browser_refusal(s) for s in (own, script, read, inbox)] == [None] * 4


def test_with_a_public_url_only_its_origin_is_the_apps_whatever_the_host_header_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    public = "https://signoff-123.aws.databricksapps.com"
    monkeypatch.setenv("SIGNOFF_PUBLIC_URL", f"{public}/inbox")
    posted = {"x_forwarded_access_token": "t", "content_type": "application/json"}
    forged = scope("POST", "/threads/t/runs/wait", origin="http://evil.example", **posted)
    forged["headers"] = [(b"host", b"evil.example"), *forged["headers"][1:]]
    forged["scheme"] = "http"
    refusal = browser_refusal(forged)
    assert refusal is not None and refusal.status_code == 403
    assert f"accepted only from {public} (the App's own pages)".encode() in refusal.body
    as_host = scope("POST", "/signoff/grants", origin=OWN, **posted)
    assert browser_refusal(as_host) is not None  # the request's own host is not the App's now
    assert browser_refusal(scope("POST", "/signoff/grants", origin=public, **posted)) is None


def test_without_a_public_url_a_local_run_takes_the_requests_own_origin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SIGNOFF_PUBLIC_URL", raising=False)
    posted = {"x_forwarded_access_token": "t", "content_type": "application/json"}
    assert browser_refusal(scope("POST", "/api/invocations", origin=OWN, **posted)) is None
    other = browser_refusal(
        scope("POST", "/api/invocations", origin="http://evil.example", **posted)
    )
    assert other is not None and f"accepted only from {OWN} ".encode() in other.body
