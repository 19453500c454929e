"""Start-up: how long each graph module takes to import, and `langgraph dev` to answer.

Imports: every graph of `langgraph.json`, each in a fresh interpreter started in a copy of the
project, with `time.perf_counter()` around `importlib.import_module` (interpreter start-up is
not counted). For a graph exported as an async factory (`signoff.databricks.graph_factory`), the
factory's first call (building the graph: Unity Catalog metadata from the workspace, offline
the embedded emulator) is timed separately. Two baselines put the numbers in context:
`langgraph.graph` alone, and the raw one-graph module of the server benchmark.

Server: seconds from launching `langgraph dev --no-browser --no-reload` until `GET /ok`
answers (polled every 20 ms), and until the first run of a graph has paused, for the signoff
project and for the raw project (with signoff's checkpointer, and with langgraph dev's own).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
from langgraph_sdk import get_sync_client

from bench.projects import RAW_GRAPH, RAW_SOURCE, raw_project, signoff_project
from bench.report import Emit, Table, median
from tests.dev_users import TOKENS
from tests.langgraph_server import OFFLINE_ENV, LanggraphServer

PROBE = """
import asyncio, importlib, inspect, json, sys, time, types
start = time.perf_counter()
module = importlib.import_module(sys.argv[1])
imported = time.perf_counter()
graph = getattr(module, sys.argv[2])
factory = None
if inspect.iscoroutinefunction(graph):
    # what the server hands a factory for a run (signoff's read only the access context)
    run = types.SimpleNamespace(access_context="threads.create_run", user=None)
    asyncio.run(graph(*[run][: len(inspect.signature(graph).parameters)]))
    factory = time.perf_counter() - imported
print(json.dumps({"import": imported - start, "factory": factory}))
"""
"""Runs in the fresh interpreter: argv = module, attribute."""

BASELINES = {
    "(baseline) langgraph.graph": ("langgraph.graph", "StateGraph"),
    "(baseline) raw one-graph module": ("raw_graph", "graph"),
}
FIRST_INPUT = {"operation": {"amount": 5000, "target": "acct-9"}}


@dataclass(frozen=True)
class StartupSettings:
    """How many times to repeat each measurement (medians are reported)."""

    import_repeats: int = 3
    server_repeats: int = 2

    @classmethod
    def quick(cls) -> StartupSettings:
        """One of each."""
        return cls(import_repeats=1, server_repeats=1)


def graph_modules(project: Path) -> dict[str, tuple[str, str]]:
    """Graph name -> (module, attribute) for every graph in the project's `langgraph.json`."""
    config = json.loads((project / "langgraph.json").read_text())
    modules = {}
    for name, entry in config["graphs"].items():
        spec = entry["path"] if isinstance(entry, dict) else entry
        path, _, attribute = spec.partition(":")
        module = path.removeprefix("./").removesuffix(".py").replace("/", ".")
        modules[name] = (module, attribute or "graph")
    return modules


def probe_import(project: Path, module: str, attribute: str) -> dict[str, float | None]:
    """Import `module` in a fresh interpreter in `project`; its import and factory seconds."""
    env = {**os.environ, **OFFLINE_ENV, "SIGNOFF_LEDGER": str(project / "ledger.jsonl")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, module, attribute],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"importing {module} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def import_table(project: Path, settings: StartupSettings) -> Table:
    """Import (and factory build) time of every graph module, median of fresh interpreters."""
    table = Table(
        f"Graph module import, fresh interpreter each (median of {settings.import_repeats})",
        ["graph", "module", "import", "factory build", "import + build"],
    )
    targets = {**graph_modules(project), **BASELINES}
    samples: dict[str, list[dict[str, float | None]]] = {name: [] for name in targets}
    for _ in range(settings.import_repeats):
        for name, (module, attribute) in targets.items():
            try:
                samples[name].append(probe_import(project, module, attribute))
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                table.note(f"{name}: {str(error).splitlines()[0]}")
    for name, runs in samples.items():
        if not runs:
            table.add(name, targets[name][0], "failed", None, None)
            continue
        imported = median(r["import"] or 0.0 for r in runs)
        builds = [r["factory"] for r in runs if r["factory"] is not None]
        build = median(builds) if builds else None
        table.add(
            name,
            targets[name][0],
            f"{imported:.3f} s",
            f"{build:.3f} s" if build is not None else "-",
            f"{imported + (build or 0.0):.3f} s",
        )
    table.note(
        "factory build = first call of an async graph factory (offline it starts the "
        "embedded workspace emulator and reads the Unity Catalog functions from it)."
    )
    return table


def time_server_start(server: LanggraphServer, graph: str) -> tuple[float, float]:
    """Start `server`; seconds until `GET /ok` answers and until a first run has paused."""
    first_ok: list[float] = []
    stop = threading.Event()

    def poll(start: float) -> None:
        with httpx.Client(timeout=1) as http:
            while not stop.is_set():
                try:
                    if http.get(f"{server.url}/ok").status_code == 200:
                        first_ok.append(time.perf_counter() - start)
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.02)

    start = time.perf_counter()
    poller = threading.Thread(target=poll, args=(start,), daemon=True)
    poller.start()
    try:
        server.start(timeout=180)
    finally:
        stop.set()
        poller.join(timeout=5)
    signed_in = {"Authorization": f"Bearer {TOKENS['alice']}"}  # signoff's auth; raw ignores it
    client = get_sync_client(url=server.url, timeout=120, headers=signed_in)
    # On a new thread: signoff refuses stateless runs (they would delete the signed trail).
    client.runs.wait(str(uuid.uuid4()), graph, input=FIRST_INPUT, if_not_exists="create")
    first_pause = time.perf_counter() - start
    return (first_ok[0] if first_ok else float("nan")), first_pause


def server_table(root: Path, settings: StartupSettings) -> Table:
    """Seconds to `GET /ok` and to a first paused run, per project, interleaved."""
    projects = {
        "signoff (5 graphs)": ("approve_reject", signoff_project),
        "raw, signoff checkpointer": (RAW_GRAPH, raw_project),
        "raw, langgraph dev's checkpointer": (
            RAW_GRAPH,
            partial(raw_project, signoff_checkpointer=False),
        ),
    }
    table = Table(
        f"langgraph dev start-up (median of {settings.server_repeats})",
        ["project", "GET /ok", "first run paused", "/ok vs raw (dev checkpointer)"],
    )
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in projects}
    for repeat in range(settings.server_repeats):
        for index, (name, (graph, make)) in enumerate(projects.items()):
            project = make(root / f"server-{index}-{repeat}")
            server = LanggraphServer(project)
            try:
                results[name].append(time_server_start(server, graph))
            except (RuntimeError, TimeoutError, httpx.HTTPError) as error:
                table.note(f"{name}: {str(error).splitlines()[0]}")
            finally:
                server.stop()
    floor = results["raw, langgraph dev's checkpointer"]
    floor_ok = median(r[0] for r in floor) if floor else None
    for name, runs in results.items():
        if not runs:
            table.add(name, "failed", None, None)
            continue
        ok = median(r[0] for r in runs)
        table.add(
            name,
            f"{ok:.2f} s",
            f"{median(r[1] for r in runs):.2f} s",
            f"{ok / floor_ok:.2f}x" if floor_ok else "-",
        )
    table.note(
        "From launching the process; /ok polled every 20 ms. 'first run paused' = /ok plus one "
        "runs.wait on a new thread until its approval pause (approve_reject for signoff)."
    )
    return table


def run(settings: StartupSettings, emit: Emit) -> None:
    """Import times, then server start-up; tables go to `emit`."""
    with tempfile.TemporaryDirectory(prefix="signoff-bench-startup-") as directory:
        root = Path(directory)
        project = signoff_project(root / "imports")
        shutil.copy2(RAW_SOURCE, project / "raw_graph.py")
        emit(import_table(project, settings))
        emit(server_table(root, settings))
