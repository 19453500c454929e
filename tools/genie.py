"""query_genie: ask the configured Genie space a question about data (safe, read-only)."""

from __future__ import annotations

from langchain_core.tools import tool

from signoff.databricks.workspace import databricks_errors, workspace_client
from signoff.settings import load_settings


@tool
def query_genie(question: str) -> str:
    """Answer a question about the Genie space's data (read-only), with its SQL and a table."""
    from databricks_ai_bridge.genie import Genie  # slow to import: not at server start

    space_id = load_settings().genie_space_id
    with databricks_errors(f"ask Genie space {space_id}"):
        response = Genie(space_id, client=workspace_client()).ask_question(question)
    parts = [response.text_attachment_content or response.description or ""]
    if response.query:
        parts.append(f"SQL: {response.query}")
    if isinstance(response.result, str) and response.result:
        parts.append(response.result)
    return "\n\n".join(part for part in parts if part)
