"""The documented SDK examples run as written against a real server: the README's, then the
job agent walkthrough of docs/operations.md."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.langgraph_server import REPO

DOCUMENTS = (REPO / "README.md", REPO / "docs" / "operations.md")
EXAMPLES = [
    example
    for document in DOCUMENTS
    for example in re.findall(r"```python\n(.*?)```", document.read_text(), re.S)
]


def run_example(example: str, url: str) -> str:
    """Run one documented example against `url` and return what it printed."""
    assert '"http://127.0.0.1:2024"' in example
    assert '{"Authorization": "Bearer dapi-dev-' in example
    script = example.replace("http://127.0.0.1:2024", url)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_readme_has_both_examples():
    assert len(EXAMPLES) == 2


@pytest.mark.parametrize("index", [0, 1], ids=["approve_reject", "databricks_workflow"])
def test_readme_sdk_example_runs(server, index):
    printed = run_example(EXAMPLES[index], server.url)
    if index == 0:
        assert printed.splitlines()[-1].startswith("executed [{'stage': 'review'")
    else:
        assert "'name': 'start_databricks_job'" in printed
        assert "Started run" in printed and "result CANCELED" in printed
        assert "order_count" in printed
