"""A statement cut by a dropped connection is sent again; any other database error is not.

`signoff.databricks.checkpointer.retrying` (the sync savers of the Model Serving agent and the
Databricks App, the ledger) and its async twin behind `ReconnectingSaver` (the LangGraph
server's savers) try a keyed statement again while the database drops its connections (a
restart, `pg_terminate_backend`), and raise at once what the database refused. The fault
test (`tests/integration/test_database_faults.py`) proves the whole path on a real server.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg
import pytest
from psycopg import errors
from psycopg_pool import PoolTimeout

from signoff.databricks import checkpointer
from signoff.databricks.checkpointer import dropped_connection, retrying

DROPPED = [
    psycopg.OperationalError("consuming input failed: server closed the connection"),
    errors.lookup("57P01")("terminating connection due to administrator command"),
    errors.lookup("57P03")("the database system is starting up"),
    errors.lookup("08006")("connection failure"),
]
REFUSED = [
    errors.lookup("57014")("canceling statement due to statement timeout"),
    errors.lookup("53300")("too many connections for role"),
    errors.lookup("53100")("could not extend file: No space left on device"),
    PoolTimeout("couldn't get a connection after 30.00 sec"),
    ValueError("not a database error"),
]


@pytest.mark.parametrize("error", DROPPED, ids=lambda e: type(e).__name__)
def test_a_dropped_connection_is_tried_again_until_the_statement_goes_through(error, caplog):
    tries: list[int] = []

    def statement() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise error
        return "written"

    with caplog.at_level(logging.WARNING, logger="signoff.databricks.checkpointer"):
        assert retrying("ledger entry", statement) == "written"
    assert dropped_connection(error) and len(tries) == 3
    assert sum("ledger entry lost its database connection" in m for m in caplog.messages) == 2


@pytest.mark.parametrize("error", REFUSED, ids=lambda e: type(e).__name__)
def test_any_other_error_is_raised_at_once(error):
    tries: list[int] = []

    def statement() -> None:
        tries.append(1)
        raise error

    with pytest.raises(type(error)):
        retrying("checkpoint write", statement)
    assert not dropped_connection(error) and len(tries) == 1


def test_a_database_that_stays_away_fails_the_statement_once_the_time_is_up(monkeypatch):
    monkeypatch.setattr(checkpointer, "RETRY_SECONDS", 0.0)
    tries: list[int] = []

    def statement() -> None:
        tries.append(1)
        raise DROPPED[0]

    with pytest.raises(psycopg.OperationalError):
        retrying("checkpoint read", statement)
    assert len(tries) <= 2


def test_the_async_savers_retry_the_same_way():
    tries: list[int] = []

    async def statement() -> str:
        tries.append(1)
        if len(tries) < 2:
            raise DROPPED[1]
        return "read"

    assert asyncio.run(checkpointer._retrying("read", statement)) == "read"
    assert len(tries) == 2
