"""The README's SDK example runs as written against a real server."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.langgraph_server import REPO


def test_readme_sdk_example_runs(server):
    readme = (REPO / "README.md").read_text()
    example = re.search(r"```python\n(.*?)```", readme, re.S)[1]
    assert 'get_client(url="http://127.0.0.1:2024")' in example
    script = example.replace("http://127.0.0.1:2024", server.url)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("executed [{'stage': 'review'")
