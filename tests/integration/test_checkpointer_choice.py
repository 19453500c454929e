"""Which saver `SIGNOFF_CHECKPOINTER` (and `LAKEBASE_INSTANCE_NAME`) selects, and the sync
form for Python callers on a real SQLite file and the session's PostgreSQL."""

from __future__ import annotations

import pytest
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver

from signoff.databricks.checkpointer import (
    DEFAULT_SQLITE_PATH,
    Backend,
    checkpointer,
    choose_backend,
)
from signoff.graphs.approve_reject import graph as approve_reject


@pytest.mark.parametrize(
    ("setting", "lakebase_env", "expected"),
    [
        ("", "", Backend("sqlite", DEFAULT_SQLITE_PATH)),
        ("sqlite:///tmp/x/state.sqlite", "", Backend("sqlite", "tmp/x/state.sqlite")),
        ("sqlite:////var/signoff.sqlite", "", Backend("sqlite", "/var/signoff.sqlite")),
        ("postgresql://u:p@db:5432/s", "", Backend("postgres", "postgresql://u:p@db:5432/s")),
        ("postgres://u@db/s", "", Backend("postgres", "postgres://u@db/s")),
        ("lakebase://prod-state", "", Backend("lakebase", "prod-state")),
        ("", "agents-lakebase", Backend("lakebase", "agents-lakebase")),
        ("postgresql://u@db/s", "agents-lakebase", Backend("postgres", "postgresql://u@db/s")),
    ],
)
def test_setting_selects_the_backend(monkeypatch, setting, lakebase_env, expected):
    monkeypatch.setenv("SIGNOFF_CHECKPOINTER", setting)
    monkeypatch.setenv("LAKEBASE_INSTANCE_NAME", lakebase_env)
    assert choose_backend() == expected


@pytest.mark.parametrize("setting", ["redis://x", "lakebase://", "sqlite:relative", "file.db"])
def test_unknown_settings_say_what_is_accepted(setting):
    with pytest.raises(ValueError, match="use sqlite:///path, postgresql://"):
        choose_backend(setting)


def test_descriptions_never_show_a_password():
    assert choose_backend("postgresql://u:secret@db:5432/s").describe() == (
        "PostgreSQL at db:5432/s"
    )


def test_sync_form_keeps_a_pause_across_opens(tmp_path, postgres_url):
    for setting, saver_type in [
        (f"sqlite:///{tmp_path / 'state.sqlite'}", SqliteSaver),
        (postgres_url, PostgresSaver),
    ]:
        config = {"configurable": {"thread_id": f"sync-{saver_type.__name__}"}}
        with checkpointer(setting) as saver:
            assert isinstance(saver, saver_type)
            graph = approve_reject.copy(update={"checkpointer": saver})
            graph.invoke({"operation": {"amount": 5000, "target": "acct-9"}}, config)
        with checkpointer(setting) as saver:
            state = approve_reject.copy(update={"checkpointer": saver}).get_state(config)
            assert state.next == ("review",)
            assert state.interrupts[0].value["stage"] == "review"
