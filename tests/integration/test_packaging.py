"""The deployable shape: `langgraph validate` passes and `langgraph dockerfile` works offline;
the wheel carries the product (`signoff`, `graphs`, `tools`) and not the development-only
workspace emulator, which the product imports in one place only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from email.parser import Parser
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


def build_wheel(out_dir: Path) -> Path:
    """Build the project's wheel offline: the PEP 517 hook of hatchling (the build backend,
    installed by the dev group), as `uv build --wheel --no-build-isolation` would call it."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, hatchling.build; print(hatchling.build.build_wheel(sys.argv[1]))",
            str(out_dir),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out_dir / result.stdout.strip().splitlines()[-1]


def test_the_wheel_carries_the_product_and_not_the_emulator(tmp_path):
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata_file = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(metadata_file).decode())
    for module in (
        "signoff/__init__.py",
        "signoff/databricks/workspace.py",
        "signoff/graphs/__init__.py",
    ):
        assert module in names
    for page in ("templates/request.html", "templates/list.html", "static/inbox.css"):
        assert (
            f"signoff/server/inbox/{page}" in names
        )  # the web inbox's pages ship with the product
    for package in ("signoff/", "signoff/graphs/", "signoff/tools/"):
        assert any(n.startswith(package) and n.endswith(".py") for n in names), package
    top_level = {n.partition("/")[0] for n in names if ".dist-info/" not in n}
    assert top_level == {"signoff"}  # graphs and tools install inside it: no name of anyone else's
    assert not [n for n in names if n.startswith("emulator/") or "/emulator/" in n]
    requirements = " ".join(metadata.get_all("Requires-Dist") or [])
    assert "databricks-sdk" in requirements
    assert "uvicorn" not in requirements  # the emulator's server: development only


def test_the_installed_wheel_serves_its_graphs_from_its_own_package(tmp_path):
    wheel = build_wheel(tmp_path)
    installed = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(installed)  # a pure-Python wheel installs by unpacking
    check = (
        "import signoff, signoff.graphs as g; "
        "assert signoff.__file__.startswith(sys.argv[1]), signoff.__file__; "
        "print(sorted(g.GRAPHS), g.approve_reject.__name__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", "import sys; " + check, str(installed)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(installed)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "'approve_reject'" in result.stdout and "signoff.graphs.approve_reject" in result.stdout


def test_the_editable_install_finds_the_emulator_from_anywhere_and_it_needs_no_signoff(tmp_path):
    check = (
        "import sys, emulator; "
        "assert not [m for m in sys.modules if m.partition('.')[0] == 'signoff'], 'signoff'; "
        "print(emulator.__file__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == REPO / "emulator" / "__init__.py"
