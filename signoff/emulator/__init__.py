"""A local emulator of the Databricks workspace APIs signoff uses, for offline development.

Real clients work against it unchanged (`WorkspaceClient(host=url, token=token,
auth_type="pat")`, `ChatDatabricks`, `databricks_ai_bridge.genie.Genie`, `UCFunctionToolkit`
with `DatabricksFunctionClient(execution_mode="local")`). It serves Jobs runs on a controllable
clock, a Genie space over a SQLite dataset, two Unity Catalog Python functions, Lakebase
instance credentials, and chat completions from a rule-based DEVELOPMENT MODEL (not an LLM).

    from signoff.emulator import start_emulator

    with start_emulator() as emulator:
        client = WorkspaceClient(host=emulator.url, token=emulator.token, auth_type="pat")

`python -m signoff.emulator` serves it in the foreground.
"""

from signoff.emulator.app import Emulator, EmulatorSettings
from signoff.emulator.identity import DEV_TOKEN
from signoff.emulator.responder import MODEL_NAME, respond
from signoff.emulator.server import RunningEmulator, start_emulator

__all__ = [
    "DEV_TOKEN",
    "MODEL_NAME",
    "Emulator",
    "EmulatorSettings",
    "RunningEmulator",
    "respond",
    "start_emulator",
]
