"""Command line: `python -m bench [cycle|policy|server|startup|growth|pending ...] [--quick]
[options]`.

Every option also reads an environment variable (`BENCH_QUICK=1`, `BENCH_PENDING`,
`BENCH_LISTED`, `BENCH_CONCURRENCY`, `BENCH_ROUNDS`), so `make bench` can be tuned without
arguments. Tables print as each benchmark finishes; all of them are saved as JSON under
`bench/results/` (`latest.json` and a time-stamped copy).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from bench import cycle, growth, pending, policy, server, startup
from bench.report import Table, render, save_results

ORDER = ("cycle", "policy", "growth", "startup", "server", "pending")
PACKAGES = ("langgraph", "langchain", "langchain-core", "langgraph-api", "langgraph-sdk")


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with defaults from the environment."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "benchmarks",
        nargs="*",
        metavar="BENCHMARK",
        help=f"which to run, of {', '.join(ORDER)} (default: all)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("BENCH_QUICK", "") not in ("", "0", "false"),
        help="small counts: the whole run in about two minutes",
    )
    parser.add_argument(
        "--pending",
        type=int,
        default=_env_int("BENCH_PENDING"),
        help="server: approvals started, listed and approved per server (1000; quick 100)",
    )
    parser.add_argument(
        "--listed",
        type=int,
        default=_env_int("BENCH_LISTED"),
        help="server: further pending approvals to start and list, 0 to skip (4000; quick 500; "
        "10000 takes ~15 min more)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=_env_int("BENCH_CONCURRENCY"),
        help="server: requests in flight at once (32)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=_env_int("BENCH_ROUNDS"),
        help="cycle: interleaved timing rounds per saver (40; quick 12)",
    )
    parser.add_argument(
        "--no-postgres", action="store_true", help="skip the PostgreSQL savers (cycle, growth)"
    )
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.benchmarks) - set(ORDER))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(ORDER)}")
    return args


def _override(settings: Any, **values: Any) -> Any:
    return dataclasses.replace(settings, **{k: v for k, v in values.items() if v is not None})


def plan(args: argparse.Namespace) -> dict[str, tuple[Any, Callable[..., None]]]:
    """Settings and entry point of each benchmark to run, in order."""
    quick = args.quick

    def pick(kind: Any) -> Any:
        return kind.quick() if quick else kind()

    cycle_settings = _override(pick(cycle.CycleSettings), rounds=args.rounds)
    growth_settings = pick(growth.GrowthSettings)
    if args.no_postgres:
        cycle_settings = _override(cycle_settings, savers=("memory",))
        growth_settings = _override(growth_settings, savers=("sqlite",))
    server_settings = _override(
        pick(server.ServerSettings),
        pending=args.pending,
        listed=args.listed,
        concurrency=args.concurrency,
    )
    everything = {
        "cycle": (cycle_settings, cycle.run),
        "policy": (pick(policy.PolicySettings), policy.run),
        "growth": (growth_settings, growth.run),
        "startup": (pick(startup.StartupSettings), startup.run),
        "server": (server_settings, server.run),
        "pending": (pick(pending.PendingSettings), pending.run),
    }
    chosen = args.benchmarks or list(ORDER)
    return {name: everything[name] for name in ORDER if name in chosen}


def versions() -> dict[str, str]:
    """Versions of the packages whose overhead is measured."""
    found = {}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks; returns 1 when one of them failed."""
    args = parse_args(argv)
    chosen = plan(args)
    tables: list[Table] = []

    def emit(table: Table) -> None:
        render(table)
        tables.append(table)

    context = {
        "mode": "quick" if args.quick else "full",
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "versions": versions(),
        "settings": {name: dataclasses.asdict(settings) for name, (settings, _) in chosen.items()},
    }
    print(
        f"signoff benchmarks ({context['mode']}): {', '.join(chosen)}; {context['cpus']} CPUs, "
        f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}; "
        + ", ".join(f"{k} {v}" for k, v in context["versions"].items()),
        flush=True,
    )
    failed = []
    began = time.perf_counter()
    for name, (settings, run) in chosen.items():
        started = time.perf_counter()
        print(f"\n--- {name} ---\n", flush=True)
        try:
            run(settings, emit)
        except Exception:  # noqa: BLE001 - report it and go on with the other benchmarks
            failed.append(name)
            traceback.print_exc()
        print(f"({name}: {time.perf_counter() - started:.0f} s)", flush=True)
    context["seconds"] = round(time.perf_counter() - began, 1)
    context["load_average_at_end"] = os.getloadavg()
    context["failed"] = failed
    print(
        f"\nDone in {context['seconds']:.0f} s; load average now "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}"
        + (f"; FAILED: {', '.join(failed)}" if failed else ""),
        flush=True,
    )
    if not args.no_json:
        print(f"Results: {save_results(tables, context)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
