"""Unity Catalog functions as tools, through `databricks-langchain`'s `UCFunctionToolkit`.

Which functions are offered is set in `signoff.toml` (`uc_functions`); each is sensitive
unless listed as safe there. Without Spark, functions execute locally in unitycatalog-ai's
sandboxed subprocess (`execution_mode="local"`), with metadata from the workspace.
"""

from __future__ import annotations

from databricks_langchain import UCFunctionToolkit
from langchain_core.tools import BaseTool
from unitycatalog.ai.core.databricks import DatabricksFunctionClient

from signoff.settings import load_settings
from signoff.workspace import workspace_client


def uc_function_tools() -> list[BaseTool]:
    """One tool per configured Unity Catalog function."""
    client = DatabricksFunctionClient(client=workspace_client(), execution_mode="local")
    toolkit = UCFunctionToolkit(function_names=load_settings().uc_functions, client=client)
    return list(toolkit.tools)
