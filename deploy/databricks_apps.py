"""Deploy signoff to Databricks Apps, served by Agent Bricks' `DurableAgentServer`, its threads
kept in Lakebase.

    .venv/bin/python deploy/databricks_apps.py --name signoff --lakebase-instance signoff-state \\
        [--graph approve_reject] [--source-path /Workspace/Shared/signoff-app] [--dry-run]

Against the workspace `databricks-sdk` resolves (`DATABRICKS_HOST` and credentials, or
`DATABRICKS_CONFIG_PROFILE`), with `WorkspaceClient().apps` and `.workspace`:

1. Create the app, or update it when it exists (`apps.get` says which): user authorization on
   (`user_api_scopes`: the forwarded token lets the workspace say who is calling and their
   groups), and the Lakebase database resource `database` (`CAN_CONNECT_AND_CREATE` on the
   instance's `databricks_postgres`) for the threads, checkpoints, grants, delegations, the
   webhook outbox and the ledger.
2. Upload the source to `--source-path`: `signoff/` (with its graphs and tools), `signoff.toml`,
   `app.yaml` (from `deploy/apps/`) and a `requirements.txt` of `pyproject.toml`'s
   dependencies (so `databricks-agentbricks` comes without its `[langgraph]` extra, whose
   `databricks-langchain==0.21.0` pin conflicts with the 0.22.0 signoff locks).
3. Deploy that source (`apps.deploy_and_wait`, a snapshot), with `LAKEBASE_INSTANCE_NAME`,
   `SIGNOFF_APP_GRAPH`, `SIGNOFF_PUBLIC_URL` (the app's URL) and every `--env KEY=VALUE` as
   environment variables over `app.yaml`'s.

The Agent Bricks Runtime Store (invocations and their events) is the Lakebase the runtime is
given (`LAKEBASE_*`/`PG*` resource variables); without them it keeps invocations in process
memory, which a restart loses (threads are never lost: they are in Lakebase).
`--dry-run` prints each SDK call with its arguments, in order, and contacts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from databricks.sdk.service.apps import (
    App,
    AppDeployment,
    AppDeploymentMode,
    AppResource,
    AppResourceDatabase,
    AppResourceDatabaseDatabasePermission,
    EnvVar,
)
from databricks.sdk.service.workspace import ImportFormat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402  # the sibling module
    ROOT,
    deployment_arguments,
    deployment_environment,
    project_requirements,
    run_deployment,
)

from signoff.graphs import GRAPHS  # noqa: E402

APP_YAML = ROOT / "deploy" / "apps" / "app.yaml"
SOURCES = ("signoff", "signoff.toml")
USER_SCOPES = ("iam.current-user:read", "iam.access-control:read")
"""What the forwarded token may do: say who its user is and their groups, nothing else."""
DATABASE = "databricks_postgres"
APP_URL = "<the app's url>"
"""Stands for the URL the workspace gives the app, known once it exists."""


@dataclass(frozen=True)
class Upload:
    """One file of the app's source: where it goes and what it holds."""

    path: str
    content: bytes
    origin: str
    """Where it comes from, for the dry run: a file of the checkout, or what made it."""


@dataclass(frozen=True)
class Plan:
    """Everything the deployment does, decided before anything is contacted."""

    app: App
    source_path: str
    uploads: list[Upload]
    environment: dict[str, str] = field(default_factory=dict)

    def folders(self) -> list[str]:
        """The workspace folders the uploads go to, parents first."""
        return sorted({upload.path.rsplit("/", 1)[0] for upload in self.uploads})

    def deployment(self, url: str) -> AppDeployment:
        """The deployment of the uploaded source, once the app's URL is known."""
        env = {**self.environment, "SIGNOFF_PUBLIC_URL": url}
        return AppDeployment(
            source_code_path=self.source_path,
            mode=AppDeploymentMode.SNAPSHOT,
            env_vars=[EnvVar(name=name, value=value) for name, value in env.items()],
        )


def make_plan(args: argparse.Namespace) -> Plan:
    """Turn the command line into the exact calls to make."""
    app = App(
        name=args.name,
        description=f"signoff: approvals for {args.graph}, with its inbox",
        user_api_scopes=[*USER_SCOPES, *args.scope],
        resources=[
            AppResource(
                name="database",
                description="signoff's threads, checkpoints, grants, outbox and ledger",
                database=AppResourceDatabase(
                    instance_name=args.lakebase_instance,
                    database_name=DATABASE,
                    permission=AppResourceDatabaseDatabasePermission.CAN_CONNECT_AND_CREATE,
                ),
            )
        ],
    )
    source_path = args.source_path or f"/Workspace/Shared/{args.name}"
    return Plan(
        app=app,
        source_path=source_path,
        uploads=list(source_files(source_path)),
        environment=deployment_environment(args, "SIGNOFF_APP_GRAPH"),
    )


def source_files(target: str) -> Iterator[Upload]:
    """The app's source: `SOURCES` (the graphs and tools through their links), `app.yaml` and
    `requirements.txt`, each with its path under `target`."""
    for name in SOURCES:
        source = ROOT / name
        files = [source] if source.is_file() else _files_under(source)
        for path in files:
            relative = path.relative_to(ROOT).as_posix()
            yield Upload(f"{target}/{relative}", path.read_bytes(), relative)
    yield Upload(f"{target}/app.yaml", APP_YAML.read_bytes(), "deploy/apps/app.yaml")
    requirements = "".join(f"{line}\n" for line in project_requirements()).encode()
    yield Upload(f"{target}/requirements.txt", requirements, "pyproject.toml's dependencies")


def _files_under(directory: Path) -> list[Path]:
    """Every source file under `directory`, following links, without caches."""
    found = []
    for folder, subfolders, names in os.walk(directory, followlinks=True):
        subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
        found += [Path(folder) / name for name in sorted(names) if not name.endswith(".pyc")]
    return found


def describe(plan: Plan) -> str:
    """The calls `deploy` makes, in order, as text."""
    app = json.dumps(plan.app.as_dict(), indent=2)
    lines = [
        "w = databricks.sdk.WorkspaceClient()",
        f"w.apps.get(name={json.dumps(plan.app.name)})",
        f"  when it does not exist: w.apps.create_and_wait(app=App.from_dict({app}))",
        f"  when it does: w.apps.update(name={json.dumps(plan.app.name)}, "
        f"app=App.from_dict(<the same>))",
    ]
    lines += [f"w.workspace.mkdirs(path={json.dumps(folder)})" for folder in plan.folders()]
    lines += [
        f"w.workspace.upload(path={json.dumps(upload.path)}, content=<{len(upload.content)} "
        f"bytes of {upload.origin}>, format=ImportFormat.AUTO, overwrite=True)"
        for upload in plan.uploads
    ]
    deployment = json.dumps(plan.deployment(APP_URL).as_dict(), indent=2)
    lines += [
        f"w.apps.deploy_and_wait(app_name={json.dumps(plan.app.name)}, "
        f"app_deployment=AppDeployment.from_dict({deployment}))",
    ]
    return "\n".join(lines)


def deploy(plan: Plan) -> None:
    """Create or update the app, upload its source, deploy it; prints its URL."""
    from databricks.sdk import WorkspaceClient  # slow to import: not for a dry run
    from databricks.sdk.errors import NotFound

    w = WorkspaceClient()
    try:
        w.apps.get(name=plan.app.name)
    except NotFound:
        app = w.apps.create_and_wait(app=plan.app)
    else:
        app = w.apps.update(name=plan.app.name, app=plan.app)
    for folder in plan.folders():
        w.workspace.mkdirs(path=folder)
    for upload in plan.uploads:
        w.workspace.upload(
            path=upload.path, content=upload.content, format=ImportFormat.AUTO, overwrite=True
        )
    url = app.url or ""
    w.apps.deploy_and_wait(app_name=plan.app.name, app_deployment=plan.deployment(url))
    print(f"Deployed {plan.app.name}: the inbox is {url}/inbox, invocations {url}/api/invocations")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Deploy signoff to Databricks Apps (Agent Bricks' DurableAgentServer).",
        epilog="See the module docstring for what each step does and needs.",
    )
    parser.add_argument("--name", required=True, help="the app's name (lowercase, hyphens)")
    parser.add_argument(
        "--graph",
        choices=list(GRAPHS),
        default="approve_reject",
        help="graph the invocation API serves (the inbox and CLI see every graph)",
    )
    parser.add_argument(
        "--source-path", help="workspace folder of the source (default /Workspace/Shared/<name>)"
    )
    parser.add_argument(
        "--scope",
        action="append",
        default=[],
        help="another user authorization scope (repeatable); the IAM read scopes are always on",
    )
    deployment_arguments(parser, "app")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the command line."""
    return run_deployment(parse_args(argv), make_plan, describe, deploy)


if __name__ == "__main__":
    sys.exit(main())
