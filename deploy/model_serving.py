"""Deploy one signoff graph to Databricks Model Serving, its threads kept in Lakebase.

    .venv/bin/python deploy/model_serving.py --model main.agents.signoff \\
        --lakebase-instance signoff-state [--graph databricks_workflow] [--dry-run]

Three steps, against the workspace `databricks-sdk` resolves (`DATABRICKS_HOST` and
credentials, or `DATABRICKS_CONFIG_PROFILE`):

1. `mlflow.pyfunc.log_model`: the models-from-code file `deploy/serving_entry.py` (a
   `signoff.serving.SignoffAgent`), with `signoff/`, `graphs/`, `tools/` and `signoff.toml` as
   code, the dependencies of `pyproject.toml`, and the resources the agent uses (from
   `signoff.toml`) so Model Serving grants the endpoint access to them: the Lakebase instance,
   and for the agents the model endpoint, the Genie space (and `--sql-warehouse`) and every
   Unity Catalog function. MLflow runs one prediction while logging, to validate the agent: it
   gets a request that pauses before any side effect, on a throwaway SQLite checkpointer.
2. `mlflow.register_model` into Unity Catalog (`--model catalog.schema.name`).
3. `databricks.agents.deploy` of that version, with `LAKEBASE_INSTANCE_NAME` (checkpoints in
   Lakebase), `SIGNOFF_SERVING_GRAPH` and every `--env KEY=VALUE` as environment variables.

Jobs have no MLflow resource type: give the endpoint's identity `CAN_MANAGE_RUN` on the job in
`signoff.toml`, or pass service principal credentials with
`--env DATABRICKS_CLIENT_ID={{secrets/<scope>/<key>}} --env DATABRICKS_CLIENT_SECRET=...`.
Step 3 needs `databricks-agents` (`pip install databricks-agents`), imported only then.
`--dry-run` prints exactly what would be called and contacts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

import mlflow
from common import (  # the sibling module, beside this script
    ROOT,
    deployment_arguments,
    deployment_environment,
    project_requirements,
    run_deployment,
)
from mlflow.models.resources import (
    DatabricksFunction,
    DatabricksGenieSpace,
    DatabricksLakebase,
    DatabricksResource,
    DatabricksServingEndpoint,
    DatabricksSQLWarehouse,
)

from signoff.graphs import GRAPHS
from signoff.settings import load_settings

ENTRY_POINT = "deploy/serving_entry.py"
CODE_PATHS = ("signoff", "graphs", "tools", "signoff.toml")
AGENT_GRAPHS = frozenset({"review_tool_calls", "databricks_workflow"})
"""Graphs that call the model endpoint, Genie and Unity Catalog functions."""

VALIDATION_REQUESTS: dict[str, dict[str, Any]] = {
    "approve_reject": {
        "input": [],
        "custom_inputs": {"input": {"operation": {"amount": 5000, "target": "acct-9"}}},
    },
    "edit_state": {
        "input": [],
        "custom_inputs": {"input": {"brief": {"to": ["ops@example.com"], "topic": "a test"}}},
    },
    "multi_stage_approval": {
        "input": [],
        "custom_inputs": {"input": {"action": {"name": "deploy_release", "args": {}}}},
    },
    "review_tool_calls": {"input": [{"role": "user", "content": "What can you do?"}]},
    "databricks_workflow": {"input": [{"role": "user", "content": "What can you do?"}]},
}
"""What MLflow predicts on while logging each graph: answered, or paused, with no side effect."""


@dataclass(frozen=True)
class Plan:
    """Everything the deployment does, decided before anything is contacted."""

    graph: str
    model_name: str
    experiment: str
    log_model: dict[str, Any]
    environment_vars: dict[str, str]


def make_plan(args: argparse.Namespace) -> Plan:
    """Turn the command line into the exact calls to make."""
    return Plan(
        graph=args.graph,
        model_name=args.model,
        experiment=args.experiment,
        log_model={
            "name": "agent",
            "python_model": str(ROOT / ENTRY_POINT),
            "code_paths": [str(ROOT / path) for path in CODE_PATHS],
            "pip_requirements": project_requirements(),
            "resources": resources(args.graph, args.lakebase_instance, args.sql_warehouse),
            "input_example": VALIDATION_REQUESTS[args.graph],
        },
        environment_vars=deployment_environment(args, "SIGNOFF_SERVING_GRAPH"),
    )


def resources(
    graph: str, lakebase_instance: str, warehouse: str | None
) -> list[DatabricksResource]:
    """The Databricks resources the served graph uses, from `signoff.toml`."""
    found: list[DatabricksResource] = [DatabricksLakebase(database_instance_name=lakebase_instance)]
    if graph in AGENT_GRAPHS:
        settings = load_settings(str(ROOT / "signoff.toml"))
        found += [
            DatabricksServingEndpoint(endpoint_name=settings.model_endpoint),
            DatabricksGenieSpace(genie_space_id=settings.genie_space_id),
            *(DatabricksFunction(function_name=name) for name in settings.uc_functions),
        ]
        if warehouse:
            found.append(DatabricksSQLWarehouse(warehouse_id=warehouse))
    return found


def describe(plan: Plan) -> str:
    """The calls `deploy` makes, in order, as text."""
    log_model = {
        **plan.log_model,
        "resources": [resource.to_dict() for resource in plan.log_model["resources"]],
    }
    arguments = json.dumps(log_model, indent=2)
    return "\n".join(
        [
            'mlflow.set_tracking_uri("databricks")',
            'mlflow.set_registry_uri("databricks-uc")',
            f"mlflow.set_experiment({json.dumps(plan.experiment)})",
            f"with SIGNOFF_SERVING_GRAPH={plan.graph} and a throwaway SQLite checkpointer:",
            f"  mlflow.pyfunc.log_model(**{arguments})",
            f"mlflow.register_model(<the logged model's uri>, {json.dumps(plan.model_name)})",
            f"databricks.agents.deploy({json.dumps(plan.model_name)}, <the registered version>, "
            f"environment_vars={json.dumps(plan.environment_vars)})",
        ]
    )


def deploy(plan: Plan) -> None:
    """Log, register and deploy; prints the endpoint when done."""
    mlflow.set_tracking_uri("databricks")
    mlflow.set_registry_uri("databricks-uc")
    mlflow.set_experiment(plan.experiment)
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["SIGNOFF_SERVING_GRAPH"] = plan.graph
        os.environ["SIGNOFF_CHECKPOINTER"] = f"sqlite:///{scratch}/validation.sqlite"
        with mlflow.start_run():
            logged = mlflow.pyfunc.log_model(**plan.log_model)
    version = mlflow.register_model(logged.model_uri, plan.model_name).version
    print(f"Registered {plan.model_name} version {version}.")

    from databricks import agents

    deployment = agents.deploy(plan.model_name, version, environment_vars=plan.environment_vars)
    print(f"Deploying to {deployment.query_endpoint}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Log, register and deploy a signoff graph to Databricks Model Serving.",
        epilog="See the module docstring for what each step does and needs.",
    )
    parser.add_argument("--model", required=True, help="Unity Catalog name: catalog.schema.name")
    parser.add_argument(
        "--graph", choices=list(GRAPHS), default="databricks_workflow", help="graph to serve"
    )
    parser.add_argument(
        "--experiment", default="/Shared/signoff", help="MLflow experiment for the logging run"
    )
    parser.add_argument("--sql-warehouse", help="SQL warehouse id behind the Genie space")
    deployment_arguments(parser, "endpoint")
    args = parser.parse_args(argv)
    if args.model.count(".") != 2:
        parser.error("--model must be a three-level Unity Catalog name: catalog.schema.name")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the command line."""
    return run_deployment(parse_args(argv), make_plan, describe, deploy)


if __name__ == "__main__":
    sys.exit(main())
