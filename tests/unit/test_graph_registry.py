"""One registry of graphs: `graphs.GRAPHS`, and `langgraph.json` lists exactly it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signoff import graphs
from signoff.graphs import GRAPHS, graph_builder

ROOT = Path(__file__).resolve().parents[2]
SINGLE_ACTION = ("approve_reject", "edit_state", "multi_stage_approval")


def test_langgraph_json_serves_exactly_the_registered_graphs():
    served = json.loads((ROOT / "langgraph.json").read_text(encoding="utf-8"))["graphs"]
    assert list(served) == list(GRAPHS)
    for name, entry in served.items():
        assert entry["path"] == f"./graphs/{name}.py:served_graph"
        assert GRAPHS[name].__module__ == f"signoff.graphs.{name}"
        assert callable(getattr(graphs, name).served_graph)
        assert entry["description"]


def test_every_module_of_graphs_is_registered():
    modules = {path.stem for path in (ROOT / "graphs").glob("*.py")} - {"__init__"}
    assert modules == set(GRAPHS)


@pytest.mark.parametrize("name", SINGLE_ACTION)
def test_a_registered_builder_compiles_the_graph_of_that_name(name):
    assert graph_builder(name)().name == name


def test_an_unknown_name_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="choose one of approve_reject, edit_state"):
        graph_builder("approve")
