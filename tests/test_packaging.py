"""The deployable shape: `langgraph validate` passes and `langgraph dockerfile` works offline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.langgraph_server import OFFLINE_ENV, REPO

LANGGRAPH = str(Path(sys.executable).with_name("langgraph"))
GRAPHS = {
    "approve_reject",
    "edit_state",
    "review_tool_calls",
    "multi_stage_approval",
    "databricks_workflow",
}


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run the langgraph CLI offline and return its completed process."""
    return subprocess.run(
        [LANGGRAPH, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**OFFLINE_ENV, "PATH": str(Path(sys.executable).parent)},
    )


def test_every_graph_is_registered_with_a_description():
    config = json.loads((REPO / "langgraph.json").read_text())
    assert config["python_version"] == "3.11" and config["dependencies"] == ["."]
    assert set(config["graphs"]) >= GRAPHS
    for entry in config["graphs"].values():
        assert len(entry["description"]) > 30
        module, _, attribute = entry["path"].partition(":")
        assert (REPO / module).exists() and attribute == "served_graph"


def test_langgraph_validate_passes():
    result = run_cli("validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout


def test_langgraph_dockerfile_needs_no_docker_engine(tmp_path):
    target = tmp_path / "Dockerfile"
    result = run_cli("dockerfile", "-c", "langgraph.json", str(target))
    assert result.returncode == 0, result.stdout + result.stderr
    dockerfile = target.read_text()
    assert dockerfile.startswith("FROM langchain/langgraph-api:3.11")
    for graph in GRAPHS:
        assert f'"{graph}"' in dockerfile
