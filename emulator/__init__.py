"""A local emulator of the Databricks workspace APIs signoff uses, for offline development.

Real clients work against it unchanged (`WorkspaceClient(host=url, token=token,
auth_type="pat")`, `ChatDatabricks`, `databricks_ai_bridge.genie.Genie`, `UCFunctionToolkit`
with `DatabricksFunctionClient(execution_mode="local")`). It serves Jobs runs on a controllable
clock, a Genie space over a SQLite dataset, two Unity Catalog Python functions, Lakebase
instance credentials, and chat completions from a rule-based DEVELOPMENT MODEL (not an LLM).

    from emulator import start_emulator

    with start_emulator() as workspace:
        client = WorkspaceClient(host=workspace.url, token=workspace.token, auth_type="pat")

`python -m emulator` serves it in the foreground (`--port`, `--data-dir`; see `--help`).

A development tool, not part of the product: it lives beside `signoff/` in the source checkout
and is not in the signoff wheel nor in Model Serving artefacts. It never imports signoff; signoff
reaches it only through `signoff.databricks.workspace` when no workspace is configured. Its one
dependency on the product is the tool names its chat model calls: `responder.DevModelTools`.
"""

from emulator.app import Emulator, EmulatorSettings
from emulator.identity import DEV_TOKEN
from emulator.responder import MODEL_NAME, SIGNOFF_TOOLS, DevModelTools, respond
from emulator.server import RunningEmulator, start_emulator

__all__ = [
    "DEV_TOKEN",
    "MODEL_NAME",
    "SIGNOFF_TOOLS",
    "DevModelTools",
    "Emulator",
    "EmulatorSettings",
    "RunningEmulator",
    "respond",
    "start_emulator",
]
