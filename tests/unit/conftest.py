"""The fast layer: graphs in process, on in-memory savers, with no server, workspace or
database. `flow("approve_reject")` is the in-process twin of the server tests' `Flow`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.in_process import LocalFlow


@pytest.fixture(scope="session", autouse=True)
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A ledger file of the session's own for the graphs that execute into one."""
    path = tmp_path_factory.mktemp("ledger") / "ledger.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SIGNOFF_LEDGER", str(path))
        yield path


@pytest.fixture
def flow() -> Callable[[str], LocalFlow]:
    """Factory: `flow("approve_reject")` drives one new in-process thread of that graph."""
    return LocalFlow
