"""The caller of a Model Serving request, in process: how the scoring server hands it over.

Databricks Model Serving with on-behalf-of-user authorization runs each request with the
caller's token where `ModelServingUserCredentials` reads it (the serving environment
variables, and the invoker's token in the main thread's data). `calling_as` does exactly that
for a development user of the emulator; `caller_for` picks who would send a request: alice
for new turns, for answers a user the policy lets decide the thread's pending request.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from signoff.serving import SignoffAgent
from tests.dev_users import TOKENS, decider_for


@contextmanager
def serving_environment(host: str) -> Iterator[None]:
    """Behave as Model Serving with on-behalf-of-user authorization, for workspace `host`."""
    saved = {
        k: os.environ.get(k) for k in ("IS_IN_DB_MODEL_SERVING_ENV", "DB_MODEL_SERVING_HOST_URL")
    }
    os.environ["IS_IN_DB_MODEL_SERVING_ENV"] = "true"
    os.environ["DB_MODEL_SERVING_HOST_URL"] = host
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        threading.main_thread().__dict__.pop("invokers_token", None)


def calling_as(name: str) -> None:
    """Make development user `name` the caller of the next requests."""
    threading.main_thread().__dict__["invokers_token"] = TOKENS[name]


def caller_for(agent: SignoffAgent, request: dict[str, Any]) -> str:
    """Who sends `request`: a permitted decider when it answers a pending request, else alice."""
    inputs = request.get("custom_inputs") or {}
    if ("decision" in inputs or "decisions" in inputs) and inputs.get("thread_id"):
        config = {"configurable": {"thread_id": inputs["thread_id"]}}
        pending = agent.open().get_state(config).interrupts
        if pending:
            return decider_for(pending[0].value)
    return "alice"
