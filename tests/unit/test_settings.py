"""`signoff.toml`: the shipped file loads, and review policies that could never work are refused."""

from __future__ import annotations

import pytest

from signoff.settings import load_settings

BASE = """
[databricks]
job_id = 101
genie_space_id = "space"
model_endpoint = "endpoint"
uc_functions = ["main.support.issue_refund"]
"""


def test_shipped_settings_mark_every_tool_sensitive_unless_listed_safe():
    settings = load_settings.__wrapped__()
    assert settings.review_decisions("query_genie") is None
    assert settings.review_decisions("start_databricks_job") == ["approve", "edit", "reject"]
    assert settings.review_decisions("terminate_databricks_job") == ["approve", "reject"]
    assert settings.review_decisions("main__support__issue_refund") == [
        "approve",
        "edit",
        "reject",
        "respond",
    ]
    assert settings.review_decisions("some_new_tool") == ["approve", "edit", "reject", "respond"]


@pytest.mark.parametrize(
    ("review", "message"),
    [
        ('[review.decisions]\nstart_databricks_job = ["approve", "escalate"]', "unknown decisions"),
        ("[review.decisions]\nstart_databricks_job = []", "allow nothing"),
    ],
)
def test_unusable_review_policies_are_refused(tmp_path, review, message):
    path = tmp_path / "signoff.toml"
    path.write_text(BASE + review)
    with pytest.raises(ValueError, match=message):
        load_settings.__wrapped__(str(path))
