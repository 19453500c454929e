"""Policy files of a test's own: written, loaded (conditions compiled, as the server loads
them) and put in force for `signoff.governance.requirements`, which decides what requests need.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from signoff.governance import requirements
from signoff.settings import Settings, load_settings

BASE = """
[databricks]
job_id = 7
genie_space_id = "space"
model_endpoint = "endpoint"

[policy]
admins = ["signoff-admins"]

[policy.deciders]
default = ["signoff-admins"]
"""
"""A settings file with no rule but `default`: a test appends its own."""


def loaded(directory: Path, text: str) -> Settings:
    """`text` written as `signoff.toml` in `directory` and loaded (not cached)."""
    path = directory / "signoff.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings.__wrapped__(str(path))


@contextmanager
def in_force(settings: Settings) -> Iterator[None]:
    """`settings` as the policy every requirement is read from, until the block ends."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(requirements, "load_settings", lambda: settings)
        yield
