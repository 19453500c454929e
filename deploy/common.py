"""What both deploy scripts share (`model_serving.py`, `databricks_apps.py`): their common
options, the environment every deployment sets, the project's dependencies, and how a run
goes (`--dry-run` prints the plan; otherwise it is carried out). It imports neither MLflow
nor the Databricks SDK, so neither script pays for the other's.
"""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def deployment_arguments(parser: argparse.ArgumentParser, deployed: str) -> None:
    """The options every deploy script takes: the Lakebase instance that keeps the threads,
    extra environment variables of the `deployed` thing (an endpoint, an app), `--dry-run`."""
    parser.add_argument(
        "--lakebase-instance", required=True, help="Lakebase instance that keeps the threads"
    )
    parser.add_argument(
        "--env",
        type=env_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"extra environment variable of the {deployed} (repeatable), "
        "e.g. a {{secrets/...}}",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print each call it would make; contact nothing"
    )


def env_pair(text: str) -> tuple[str, str]:
    """Parse one `KEY=VALUE`."""
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def deployment_environment(args: argparse.Namespace, graph_variable: str) -> dict[str, str]:
    """The environment of a deployment: its Lakebase instance, its graph under
    `graph_variable`, no fallback to the offline emulator, then every `--env`."""
    return {
        "LAKEBASE_INSTANCE_NAME": args.lakebase_instance,
        graph_variable: args.graph,
        "SIGNOFF_EMULATOR": "off",  # never fall back to the offline emulator in production
        **dict(args.env),
    }


def project_requirements() -> list[str]:
    """The runtime dependencies declared in `pyproject.toml`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return list(project["dependencies"])


def run_deployment(
    args: argparse.Namespace,
    make_plan: Callable[[argparse.Namespace], Any],
    describe: Callable[[Any], str],
    deploy: Callable[[Any], None],
) -> int:
    """Plan the deployment `args` ask for; print it on `--dry-run`, else carry it out."""
    plan = make_plan(args)
    if args.dry_run:
        print("Dry run: nothing is contacted. The deployment would call:")
        print(describe(plan))
        return 0
    deploy(plan)
    return 0
