"""Unity Catalog functions as tools, through `databricks-langchain`'s `UCFunctionToolkit`.

Which functions are offered is set in `signoff.toml` (`uc_functions`); each is sensitive
unless listed as safe there. Without Spark, functions execute locally in unitycatalog-ai's
sandboxed subprocess (`execution_mode="local"`), with metadata from the workspace.

A function with an `idempotency_key` parameter is safe to retry: signoff fills that parameter
itself, from the thread and the tool call (`signoff.execution.idempotency`), so a call repeated
after a crash carries the same key and the function does nothing new. The model never sees the
parameter and the reviewer never edits it.
"""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.tools import BaseTool, InjectedToolCallId, StructuredTool
from pydantic import BaseModel, create_model

from signoff.databricks.workspace import workspace_client
from signoff.execution.idempotency import idempotency_key
from signoff.settings import load_settings

KEY_PARAMETER = "idempotency_key"


def uc_function_tools() -> list[BaseTool]:
    """One tool per configured Unity Catalog function."""
    from databricks_langchain import UCFunctionToolkit  # slow to import: not at server start
    from unitycatalog.ai.core.databricks import DatabricksFunctionClient

    client = DatabricksFunctionClient(client=workspace_client(), execution_mode="local")
    toolkit = UCFunctionToolkit(function_names=load_settings().uc_functions, client=client)
    return [with_idempotency_key(tool) for tool in toolkit.tools]


def with_idempotency_key(tool: BaseTool) -> BaseTool:
    """`tool` as is, or, when it takes `idempotency_key`, a tool without that parameter that
    passes the key derived from the thread and its tool-call id."""
    schema = tool.args_schema
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        return tool  # a JSON-schema dict, a pydantic v1 model or none: no `model_fields`
    fields = schema.model_fields
    if KEY_PARAMETER not in fields:
        return tool
    # `Any` values: mypy checks a `**` dict against every keyword of `create_model`
    # (`__config__`, `__base__`, ...), not only its `**field_definitions`.
    kept: dict[str, Any] = {name: (field.annotation, field) for name, field in fields.items()}
    kept.pop(KEY_PARAMETER)
    keyed_schema = create_model(
        schema.__name__,
        __config__=schema.model_config,
        tool_call_id=(Annotated[str, InjectedToolCallId], ...),
        **kept,
    )

    def run(tool_call_id: str, **args: Any) -> Any:
        return tool.invoke({**args, KEY_PARAMETER: idempotency_key(tool_call_id)})

    return StructuredTool(
        name=tool.name,
        description=tool.description,
        args_schema=keyed_schema,
        func=run,
        response_format=tool.response_format,
    )
