"""The Databricks workspace every client talks to: a real one, or the local emulator.

With `DATABRICKS_HOST` (or `DATABRICKS_CONFIG_PROFILE`) set, `databricks-sdk` resolves the
workspace and credentials as usual and the emulator stays off. Without either, the first
client needed starts the local workspace emulator in-process on a free loopback port, points
`DATABRICKS_HOST` / `DATABRICKS_TOKEN` at it (so libraries that build their own clients follow)
and logs one line saying so. The code path is the same in both modes.

The emulator is the top-level package `emulator`, part of the source checkout for development
and not of the signoff wheel; `_start_embedded_emulator` is the product's only import of it.
Installed from the wheel with no workspace configured, that import fails with a clear error.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.tools import ToolException

from signoff.settings import environment

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

log = logging.getLogger("signoff.databricks.workspace")
_lock = threading.Lock()


WORKSPACE_VARIABLES = (
    "DATABRICKS_HOST",
    "DATABRICKS_CONFIG_PROFILE",
    "DATABRICKS_MODEL_SERVING_HOST_URL",
)
"""Any of these (the last is set inside Databricks Model Serving) means a real workspace."""


def uses_real_workspace() -> bool:
    """True when databricks-sdk can find a workspace: a variable, or a config file."""
    config_file = os.environ.get("DATABRICKS_CONFIG_FILE", "~/.databrickscfg")
    return any(os.environ.get(name) for name in WORKSPACE_VARIABLES) or (
        Path(config_file).expanduser().is_file()
    )


@cache
def workspace_client() -> WorkspaceClient:
    """The process-wide workspace client, starting the local emulator when none is configured
    (unless `SIGNOFF_EMULATOR=off`, for deployments that must never fall back to it)."""
    from databricks.sdk import WorkspaceClient  # slow to import: not at server start
    from databricks.sdk.core import Config

    with _lock:
        if not uses_real_workspace():
            if environment().emulator.lower() == "off":
                raise RuntimeError(
                    "No Databricks workspace is configured (DATABRICKS_HOST, "
                    "DATABRICKS_CONFIG_PROFILE or ~/.databrickscfg) and SIGNOFF_EMULATOR=off "
                    "forbids the local emulator."
                )
            _start_embedded_emulator()
    retry_seconds = environment().databricks_retry_seconds
    return WorkspaceClient(config=Config(retry_timeout_seconds=retry_seconds))


EMULATOR_NOT_INSTALLED = (
    "No Databricks workspace is configured (DATABRICKS_HOST, DATABRICKS_CONFIG_PROFILE or "
    "~/.databrickscfg) and the local workspace emulator is not installed: it ships with the "
    "signoff source checkout, for development, not with the signoff package. Set "
    "DATABRICKS_HOST (and DATABRICKS_TOKEN or other credentials) or DATABRICKS_CONFIG_PROFILE "
    "to use a real workspace, or run from a source checkout (`uv sync`, then `make dev`) to "
    "develop offline against the emulator."
)


def _start_embedded_emulator() -> None:
    """Start the local emulator and point `DATABRICKS_HOST`/`DATABRICKS_TOKEN` at it."""
    try:
        from emulator.server import start_emulator  # the product's only import of the emulator
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] != "emulator":
            raise RuntimeError(
                f"The local workspace emulator cannot start: {error}. It needs the development "
                "dependencies of the source checkout (`uv sync`)."
            ) from error
        raise RuntimeError(EMULATOR_NOT_INSTALLED) from error

    emulator = start_emulator()
    os.environ["DATABRICKS_HOST"] = emulator.url
    os.environ["DATABRICKS_TOKEN"] = emulator.token
    log.warning(
        "No DATABRICKS_HOST set: started the local Databricks workspace emulator at %s "
        "(offline development mode; set DATABRICKS_HOST to use a real workspace).",
        emulator.url,
    )


@contextmanager
def databricks_errors(doing: str) -> Iterator[None]:
    """Turn a failed Databricks call into a `ToolException` that names the problem."""
    from databricks.sdk.errors import DatabricksError, NotFound, PermissionDenied

    try:
        yield
    except PermissionDenied as error:
        raise ToolException(f"Could not {doing}: permission denied. {error}") from error
    except NotFound as error:
        raise ToolException(f"Could not {doing}: not found. {error}") from error
    except DatabricksError as error:
        code = getattr(error, "error_code", None) or type(error).__name__
        raise ToolException(f"Could not {doing}: {code}: {error}") from error
    except (OSError, TimeoutError) as error:
        host = os.environ.get("DATABRICKS_HOST", "the configured host")
        raise ToolException(
            f"Could not {doing}: the Databricks workspace at {host} is unreachable ({error})."
        ) from error
