"""The layers import downward only.

`signoff`'s packages form one stack (`LAYERS`, lowest first, as in `docs/architecture.md`): a
module may import its own package and the packages below it, never one above. The graphs and
tools (the app layer, `signoff.graphs` and `signoff.tools`) sit on top; the product reaches the
emulator only through workspace resolution. No import is hidden in a function or behind
`TYPE_CHECKING` to dodge a cycle: every import of signoff is at the top of its module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "signoff"

LAYERS = (
    "clock",
    "protocol",
    "conditions",
    "settings",
    "databricks",
    "governance",
    "signals",
    "execution",
    "standing",
    "review",
    "client",
    "server",
    "serving",
    "tools",
    "graphs",
    "checkpoints",
    "apps",
)
"""The parts of `signoff`, lowest first: each may import only itself and those before it."""


def sources() -> Iterator[Path]:
    """Every module of the product (the graphs and tools through their links in `signoff/`)."""
    for part in LAYERS:
        path = PACKAGE / part
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    yield PACKAGE / "__init__.py"


def layer_of(path: Path) -> str:
    """The part of `signoff` a module file belongs to."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported(node: ast.AST) -> list[str]:
    """The absolute module names an import statement names (`from x import y` also as `x.y`)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return []


def signoff_part(module: str) -> str | None:
    """The part of `signoff` a module name is in (`signoff.governance.audit` → `governance`)."""
    top, _, rest = module.partition(".")
    if top != "signoff" or not rest:
        return None
    part = rest.partition(".")[0]
    return part if part in LAYERS else None


def test_every_part_of_the_package_has_a_place_in_the_stack():
    parts = {path.name.removesuffix(".py") for path in PACKAGE.iterdir()}
    assert parts - {"__init__", "__pycache__"} == set(LAYERS)


@pytest.mark.parametrize("source", list(sources()), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_module_imports_only_its_own_part_and_those_below(source):
    own = (
        LAYERS.index(layer_of(source))
        if source.name != "__init__.py" or source.parent != PACKAGE
        else -1
    )
    upward = {
        module
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8")))
        for module in imported(node)
        if (part := signoff_part(module)) and LAYERS.index(part) > own
    }
    assert upward == set(), f"{layer_of(source)} may not import {sorted(upward)}"


@pytest.mark.parametrize("source", list(sources()), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_import_of_signoff_is_at_the_top_of_its_module(source):
    tree = ast.parse(source.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    hidden = [
        node.lineno
        for node in ast.walk(tree)
        if id(node) not in top and any(signoff_part(m) for m in imported(node))
    ]
    assert hidden == [], f"imports of signoff inside a function or a block at lines {hidden}"


def importers_of(package: str, among: tuple[str, ...]) -> set[str]:
    """The modules under the directories `among` that import `package` or one of its modules."""
    return {
        source.relative_to(ROOT).as_posix()
        for directory in among
        for source in (ROOT / directory).rglob("*.py")
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8")))
        if any(module.partition(".")[0] == package for module in imported(node))
    }


def test_only_the_workspace_resolution_imports_the_emulator():
    assert importers_of("emulator", ("signoff", "graphs", "tools", "deploy")) == {
        "signoff/databricks/workspace.py"
    }


def test_the_graphs_and_tools_are_reached_only_as_parts_of_signoff():
    among = ("signoff", "graphs", "tools", "deploy", "bench", "tests")
    assert importers_of("graphs", among) | importers_of("tools", among) == set()
