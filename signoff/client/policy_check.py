"""`signoff policy check`: whether a proposed policy file can be put in force.

The file is read as the server would read it (`signoff.settings.load_settings`, without its
cache, so the settings in force stay as they are): anything it refuses (a condition that does
not compile or is not a bool, a requirement after one that matches every request, a repeated
condition, an unknown key) is an error, with the loader's message. On settings that load,
`check_policy` also reports:

- errors: groups the policy names (deciders, admins, escalation) that the workspace does not
  have. The groups come from the workspace's SCIM groups (`groups.list()`), or from
  `--groups` when given; a workspace that cannot list them leaves them unchecked, with a
  warning saying so;
- warnings: rules that name no graph (`langgraph.json`), chain stage
  (`multi_stage_approval.<stage>`) or tool (the graphs' own, and `[databricks] uc_functions`);
  rules of a tool marked safe, which is never reviewed; rules whose every requirement has a
  condition, so a request none matches fails closed to the strictest approvals.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from signoff.databricks.workspace import workspace_client
from signoff.settings import DEFAULT_FILE, Settings, load_settings, rule_names

GRAPH_TOOLS = frozenset(
    {"start_databricks_job", "terminate_databricks_job", "poll_databricks_job", "query_genie"}
)
"""The tools the graphs give their agents besides Unity Catalog functions (`signoff.tools`)."""

CHAIN_GRAPH = "multi_stage_approval"
"""The graph whose stages are rules of their own: `multi_stage_approval.<stage>`."""

LANGGRAPH_JSON = DEFAULT_FILE.parent / "langgraph.json"
"""The checkout's graph registry."""

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a policy: an error keeps it out of force, a warning is a doubt."""

    level: Level
    message: str
    rule: str | None = None


@dataclass
class PolicyCheck:
    """What `check_policy` found in one file."""

    file: str
    loaded: bool = False
    rules: int = 0
    requirements: int = 0
    conditions: int = 0
    """Conditions compiled (and type-checked)."""
    groups_from: str = "not checked"
    """Where the known groups came from: `workspace`, `--groups`, or `not checked`."""
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        """The findings that keep the policy out of force."""
        return [finding for finding in self.findings if finding.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """The findings worth a look."""
        return [finding for finding in self.findings if finding.level == "warning"]

    def passed(self, strict: bool = False) -> bool:
        """No errors (and, when `strict`, no warnings either)."""
        return not self.errors and not (strict and self.warnings)

    def as_dict(self) -> dict[str, Any]:
        """What `signoff policy check --json` prints."""
        return {
            "file": self.file,
            "loaded": self.loaded,
            "rules": self.rules,
            "requirements": self.requirements,
            "conditions": self.conditions,
            "groups_from": self.groups_from,
            "errors": [_shown(finding) for finding in self.errors],
            "warnings": [_shown(finding) for finding in self.warnings],
        }


def _shown(finding: Finding) -> dict[str, Any]:
    return {"rule": finding.rule, "message": finding.message}


def load_proposed(path: str | Path) -> Settings:
    """The settings in the file at `path`, read as the server reads its own but not cached
    (so neither this file nor the settings in force are kept for the other); `ValueError`
    says why they cannot load."""
    try:
        return load_settings.__wrapped__(str(path))
    except ValueError:
        raise
    except KeyError as error:
        raise ValueError(f"{path}: a required setting is missing: {error}.") from None
    except (OSError, TypeError) as error:
        raise ValueError(f"{path}: cannot be read as settings: {error}") from None


def workspace_groups() -> list[str]:
    """The display names of the workspace's groups (SCIM `groups.list()`)."""
    return sorted(
        str(group.display_name) for group in workspace_client().groups.list() if group.display_name
    )


def check_policy(
    path: str | Path,
    groups: Iterable[str] | None = None,
    list_groups: Callable[[], list[str]] = workspace_groups,
) -> PolicyCheck:
    """Check the policy file at `path`; its groups against `groups` when given, else against
    `list_groups()` (the workspace's)."""
    report = PolicyCheck(file=str(path))
    try:
        settings = load_proposed(path)
    except ValueError as error:
        report.findings.append(Finding("error", str(error)))
        return report
    report.loaded = True
    report.rules = len(settings.rules)
    report.requirements = sum(len(requirements) for requirements in settings.rules.values())
    report.conditions = sum(
        1 for requirements in settings.rules.values() for r in requirements if r.when is not None
    )
    _check_groups(report, settings, groups, list_groups)
    _check_rule_names(report, settings)
    _check_fallthrough(report, settings)
    return report


def named_groups(settings: Settings) -> dict[str, list[str]]:
    """Every group the settings name → where (rules, `admins`, escalations)."""
    named: dict[str, list[str]] = {}
    for rule, requirements in settings.rules.items():
        for requirement in requirements:
            for group in requirement.groups:
                named.setdefault(group, []).append(f"rule {rule!r} ({requirement.name!r})")
    for group in settings.admins:
        named.setdefault(group, []).append("[policy] admins")
    for rule, deadlines in settings.deadlines.items():
        if deadlines.escalate_to:
            named.setdefault(deadlines.escalate_to, []).append(f"[deadlines.{rule}] escalate_to")
    return named


def _check_groups(
    report: PolicyCheck,
    settings: Settings,
    groups: Iterable[str] | None,
    list_groups: Callable[[], list[str]],
) -> None:
    if groups is not None:
        known, report.groups_from = set(groups), "--groups"
    else:
        try:
            known, report.groups_from = set(list_groups()), "workspace"
        except Exception as error:  # noqa: BLE001 - any failure to list leaves groups unchecked
            report.findings.append(
                Finding(
                    "warning",
                    f"groups not checked: the workspace did not list its groups "
                    f"({type(error).__name__}: {' '.join(str(error).split())[:200]}); pass "
                    "--groups with the workspace's groups (comma separated) to check them.",
                )
            )
            return
    for group, where in sorted(named_groups(settings).items()):
        if group not in known:
            report.findings.append(
                Finding(
                    "error",
                    f"group {group!r} ({', '.join(where)}) is not a group of the workspace, "
                    f"so nobody could decide as it; the groups are: {', '.join(sorted(known))}.",
                )
            )


def known_graphs(registry: Path = LANGGRAPH_JSON) -> list[str] | None:
    """The graphs of the checkout's `langgraph.json`; `None` without one."""
    try:
        graphs = json.loads(registry.read_text(encoding="utf-8")).get("graphs") or {}
    except (OSError, ValueError):
        return None
    return sorted(graphs)


def _check_rule_names(report: PolicyCheck, settings: Settings) -> None:
    graphs = known_graphs()
    tools = GRAPH_TOOLS | {name for fn in settings.uc_functions for name in rule_names(fn)}
    safe = {name for tool in settings.safe_tools for name in rule_names(tool)}
    names = sorted({*settings.rules, *settings.deadlines} - {"default"})
    for rule in names:
        graph, _, stage = rule.partition(".")
        known = (
            bool(set(rule_names(rule)) & tools)
            or (graph == CHAIN_GRAPH and bool(stage))
            or graphs is None
            or rule in graphs
        )
        if set(rule_names(rule)) & safe:
            report.findings.append(
                Finding(
                    "warning",
                    f"rule {rule!r} is of a tool marked safe in [review] safe, whose calls are "
                    "never reviewed, so it never applies; remove it from `safe` to review them.",
                    rule,
                )
            )
        elif not known:
            report.findings.append(
                Finding(
                    "warning",
                    f"rule {rule!r} names no graph, chain stage or tool, so no request falls "
                    f"under it; a rule is a graph ({', '.join(graphs or [])}), a stage "
                    f"`{CHAIN_GRAPH}.<stage>`, or a tool ({', '.join(sorted(tools))}).",
                    rule,
                )
            )


def _check_fallthrough(report: PolicyCheck, settings: Settings) -> None:
    for rule, requirements in sorted(settings.rules.items()):
        if requirements and all(requirement.when is not None for requirement in requirements):
            report.findings.append(
                Finding(
                    "warning",
                    f"every requirement of rule {rule!r} has a `when`, so a request none "
                    "matches fails closed to the strictest approvals the rule could ask for; "
                    "end it with a requirement without `when` to say what the rest need.",
                    rule,
                )
            )
