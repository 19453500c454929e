"""The layers import downward only: the graphs (app layer) use the library, the library never
imports the graphs, and the product reaches the emulator only through workspace resolution."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def importers_of(package: str, among: tuple[str, ...]) -> set[str]:
    """The modules under the directories `among` that import `package` or one of its modules."""
    importers = set()
    for directory in among:
        for source in (ROOT / directory).rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    modules = [node.module or ""]
                else:
                    continue
                if any(module.partition(".")[0] == package for module in modules):
                    importers.add(source.relative_to(ROOT).as_posix())
    return importers


def test_only_the_workspace_resolution_imports_the_emulator():
    assert importers_of("emulator", ("signoff", "graphs", "tools", "deploy")) == {
        "signoff/workspace.py"
    }


def test_the_library_never_imports_the_graphs():
    assert importers_of("graphs", ("signoff", "tools", "emulator")) == set()
