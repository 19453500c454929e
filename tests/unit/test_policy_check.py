"""`signoff policy check`: a proposed policy file is read as the server reads its own, and what
would keep it out of force (or look wrong) is reported, without touching the settings in
force."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from signoff.client.policy_check import (
    GRAPH_TOOLS,
    check_policy,
    known_graphs,
    load_proposed,
)
from signoff.client.policy_commands import add_policy_commands, run_policy_command
from signoff.settings import DEFAULT_FILE, load_settings
from signoff.tools import databricks_jobs, genie
from tests.dev_users import GROUPS

DEV_GROUPS = sorted({group for groups in GROUPS.values() for group in groups})
"""Every group of the emulator's development users: the offline workspace's groups."""

BASE = """
[databricks]
job_id = 101
genie_space_id = "space"
model_endpoint = "endpoint"
uc_functions = ["main.support.lookup_order", "main.support.issue_refund"]

[review]
safe = ["query_genie", "main.support.lookup_order"]

[policy]
admins = ["signoff-admins"]
"""


def policy_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "proposed.toml"
    path.write_text(BASE + text, encoding="utf-8")
    return path


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="signoff")
    add_policy_commands(parser.add_subparsers(dest="command", required=True))
    return run_policy_command(parser.parse_args(["policy", *argv]))


def test_the_shipped_policy_passes_against_the_development_users_groups():
    report = check_policy(DEFAULT_FILE, groups=DEV_GROUPS)
    assert report.loaded and report.errors == [], report.findings
    assert report.conditions == sum(
        1 for rs in load_settings.__wrapped__().rules.values() for r in rs if r.when
    )
    assert report.conditions >= 2


def test_a_condition_that_does_not_compile_fails_with_the_loaders_message(tmp_path, capsys):
    path = policy_file(
        tmp_path,
        '[[policy.rules.approve_reject]]\nname = "big"\nwhen = "args.amount >"\n'
        "approvals = { managers = 1 }\n",
    )
    assert run("check", str(path), "--groups", ",".join(DEV_GROUPS), "--json") == 1
    shown = json.loads(capsys.readouterr().out)
    assert shown["loaded"] is False
    [error] = shown["errors"]
    assert "'big'" in error["message"] and "is not CEL" in error["message"]


def test_a_requirement_after_one_that_matches_everything_fails(tmp_path):
    path = policy_file(
        tmp_path,
        '[[policy.rules.approve_reject]]\nname = "all"\napprovals = { managers = 1 }\n'
        '[[policy.rules.approve_reject]]\nname = "never"\nwhen = "args.amount > 1.0"\n'
        "auto_approve = true\n",
    )
    report = check_policy(path, groups=DEV_GROUPS)
    [error] = report.errors
    assert "['never'] after it can never apply" in error.message


def test_groups_the_workspace_lacks_are_errors_that_name_the_groups_it_has(tmp_path, capsys):
    path = policy_file(
        tmp_path,
        '[[policy.rules.approve_reject]]\nname = "two"\n'
        "approvals = { managers = 1, treasury = 1 }\n"
        '[deadlines.approve_reject]\nescalate_after = "1h"\nescalate_to = "directors"\n',
    )
    assert run("check", str(path), "--groups", ",".join(DEV_GROUPS)) == 1
    out = capsys.readouterr().out.replace("\n", " ")
    assert "group 'treasury' (rule 'approve_reject' ('two'))" in out
    assert "group 'directors' ([deadlines.approve_reject] escalate_to)" in out
    assert "the groups are: data-engineers, finance, managers" in out


def test_rules_of_nothing_and_of_safe_tools_are_warnings(tmp_path):
    path = policy_file(
        tmp_path,
        '[policy.deciders]\napprove_rejct = ["managers"]\n"main.support.lookup_order" = '
        '["managers"]\n"multi_stage_approval.legal" = ["managers"]\n'
        'main__support__issue_refund = ["support-leads"]\nstart_databricks_job = ["managers"]\n',
    )
    report = check_policy(path, groups=DEV_GROUPS)
    assert report.errors == []
    warned = {finding.rule: finding.message for finding in report.warnings}
    assert set(warned) == {"approve_rejct", "main.support.lookup_order"}
    assert "names no graph, chain stage or tool" in warned["approve_rejct"]
    assert "approve_reject" in warned["approve_rejct"]  # says what a rule may be
    assert "marked safe" in warned["main.support.lookup_order"]


def test_a_rule_whose_every_requirement_has_a_condition_warns_it_fails_closed(tmp_path):
    path = policy_file(
        tmp_path,
        '[[policy.rules.approve_reject]]\nname = "small"\nwhen = "args.amount <= 10.0"\n'
        "auto_approve = true\n",
    )
    assert run("check", str(path), "--groups", ",".join(DEV_GROUPS)) == 0
    assert run("check", str(path), "--groups", ",".join(DEV_GROUPS), "--strict") == 1
    [warning] = check_policy(path, groups=DEV_GROUPS).warnings
    assert warning.rule == "approve_reject" and "fails closed" in warning.message


def test_groups_the_workspace_cannot_list_are_left_unchecked_with_a_warning(tmp_path):
    def unlisted() -> list[str]:
        raise RuntimeError("No API found for 'GET /api/2.0/preview/scim/v2/Groups'")

    path = policy_file(tmp_path, '[policy.deciders]\napprove_reject = ["nobody-has-this"]\n')
    report = check_policy(path, list_groups=unlisted)
    assert report.errors == [] and report.groups_from == "not checked"
    [warning] = report.warnings
    assert "groups not checked" in warning.message and "--groups" in warning.message
    listed = check_policy(path, list_groups=lambda: DEV_GROUPS)
    assert listed.groups_from == "workspace" and len(listed.errors) == 1


def test_checking_a_file_leaves_the_settings_in_force_as_they_are(tmp_path):
    in_force = load_settings()
    path = policy_file(tmp_path, '[policy.deciders]\napprove_reject = ["security"]\n')
    assert load_proposed(path).rules["approve_reject"][0].groups == ["security"]
    assert load_settings() is in_force
    assert load_settings(str(path)) is not load_proposed(path)  # nothing cached for the file
    load_settings.cache_clear()


def test_the_known_graphs_and_tools_are_those_the_project_serves():
    registry = json.loads((DEFAULT_FILE.parent / "langgraph.json").read_text(encoding="utf-8"))
    assert known_graphs() == sorted(registry["graphs"])
    served = {
        getattr(module, name).name
        for module in (databricks_jobs, genie)
        for name in dir(module)
        if hasattr(getattr(module, name), "args_schema") and hasattr(getattr(module, name), "name")
    }
    assert served >= GRAPH_TOOLS


@pytest.mark.parametrize("where", ["before", "after"])
def test_url_and_token_are_accepted_after_the_command(where, tmp_path):
    parser = argparse.ArgumentParser(prog="signoff")
    parser.add_argument("--url", default="http://default")
    commands = parser.add_subparsers(dest="command", required=True)
    add_policy_commands(commands)
    options = ["--url", "http://there"]
    argv = (
        [*options, "policy", "replay", "f.toml"]
        if where == "before"
        else ["policy", "replay", "f.toml", *options, "--days", "7"]
    )
    args = parser.parse_args(argv)
    assert (args.url, args.policy_command, args.file) == ("http://there", "replay", "f.toml")
