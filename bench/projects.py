"""Projects for `langgraph dev` to serve, and servers that serve them.

- the signoff project: the repository's served files, copied by `tests.langgraph_server`;
- the raw project: the same copy whose `langgraph.json` serves only `bench/raw_graph.py`
  (optionally without signoff's custom checkpointer, i.e. langgraph dev's own in-memory one).

`serving` starts several servers at once (each `LanggraphServer` on a free port, in its own
process group) and stops every one of them by its process group when the block ends.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from tests.langgraph_server import REPO, LanggraphServer, copy_project

RAW_GRAPH = "raw_approval"
RAW_SOURCE = Path(__file__).resolve().parent / "raw_graph.py"


def signoff_project(directory: Path) -> Path:
    """A copy of the project as `langgraph dev` serves it."""
    return copy_project(directory)


def raw_project(directory: Path, *, signoff_checkpointer: bool = True) -> Path:
    """A project serving only the raw approval graph; with `signoff_checkpointer`, on the
    same checkpointer setting as signoff (`langgraph.json`'s `checkpointer` entry)."""
    copy_project(directory)
    shutil.copy2(RAW_SOURCE, directory / "raw_graph.py")
    config = json.loads((REPO / "langgraph.json").read_text())
    raw = {
        "python_version": config.get("python_version", "3.11"),
        "dependencies": ["."],
        "graphs": {RAW_GRAPH: {"path": "./raw_graph.py:graph"}},
    }
    if signoff_checkpointer and "checkpointer" in config:
        raw["checkpointer"] = config["checkpointer"]
    (directory / "langgraph.json").write_text(json.dumps(raw, indent=2))
    return directory


@contextmanager
def serving(projects: dict[str, Path]) -> Iterator[dict[str, LanggraphServer]]:
    """Start a server for each project, all at once; stop them all when the block ends."""
    servers = {name: LanggraphServer(path) for name, path in projects.items()}
    try:
        with ThreadPoolExecutor(max_workers=len(servers) or 1) as pool:
            for started in [pool.submit(server.start) for server in servers.values()]:
                started.result()
        yield servers
    finally:
        for server in servers.values():
            server.stop()
