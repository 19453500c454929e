"""`signoff policy replay` against the real server: requests raised and decided through the API
are judged under a stricter policy file, as an admin reads them, and nothing read changes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from signoff.client.policy_check import check_policy
from signoff.client.policy_commands import add_policy_commands, run_policy
from signoff.settings import DEFAULT_FILE
from tests.dev_users import TOKENS

STRICTER = """
[policy]
admins = ["signoff-admins"]

[[policy.rules.approve_reject]]
name = "trusted"
when = "args.target.startsWith('trusted-')"
auto_approve = true

[[policy.rules.approve_reject]]
name = "sanctioned"
when = "args.target.startsWith('sanctioned-')"
deny = "payments to sanctioned accounts never run"

[[policy.rules.approve_reject]]
name = "small"
when = "args.amount <= context.auto_approve_limit"
auto_approve = true

[[policy.rules.approve_reject]]
name = "finance over 2,000"
when = "args.amount > 2000.0"
approvals = 2
from = ["finance"]

[[policy.rules.approve_reject]]
name = "one manager"
approvals = { managers = 1 }
"""


def stricter_policy(tmp_path: Path) -> Path:
    """The shipped settings with their `[policy]` replaced by `STRICTER`."""
    shipped = DEFAULT_FILE.read_text(encoding="utf-8")
    path = tmp_path / "stricter.toml"
    path.write_text(shipped[: shipped.index("\n[policy]")] + STRICTER, encoding="utf-8")
    return path


def payment(amount: float, target: str) -> dict[str, Any]:
    return {"operation": {"kind": "payment", "amount": amount, "target": target}}


async def replay_as(server, user: str, path: Path, capsys) -> tuple[int, dict[str, Any]]:
    """Run `signoff policy replay PATH --json` as `user`; its exit status and report."""
    parser = argparse.ArgumentParser(prog="signoff")
    commands = parser.add_subparsers(dest="command", required=True)
    add_policy_commands(commands)
    argv = ["policy", "replay", str(path), "--json", "--examples", "1000"]
    args = parser.parse_args([*argv, "--url", server.url, "--token", TOKENS[user]])
    capsys.readouterr()
    status = await run_policy(args)
    return status, json.loads(capsys.readouterr().out)


async def state_of(client, thread_id: str) -> tuple[Any, ...]:
    """What a replay must not change of a thread: its state, its checkpoint and its status."""
    state = await client.threads.get_state(thread_id)
    thread = await client.threads.get(thread_id)
    return state["values"], state["checkpoint"], thread["state_updated_at"], thread["status"]


def threads_in(report: dict[str, Any], change: str) -> set[str]:
    examples = report["rules"].get("approve_reject", {}).get("examples", {}).get(change, [])
    return {example["thread_id"] for example in examples}


async def test_a_stricter_policy_replayed_on_decided_requests(
    flow, server, admin, tmp_path, capsys
):
    runs = {}
    for name, amount, target in (
        ("manager", 2500, "acct-9"),
        ("trusted", 5000, "trusted-1"),
        ("sanctioned", 3000, "sanctioned-1"),
        ("small", 500, "acct-9"),
    ):
        runs[name] = flow("approve_reject")
        await runs[name].start(payment(amount, target))
    for name in ("manager", "trusted"):
        assert (await runs[name].resume("approve", as_user="bob"))["status"] == "executed"
    rejection = {"decisions": [{"type": "reject", "message": "not this account"}]}
    assert (await runs["sanctioned"].resume(rejection, as_user="bob"))["status"] == "rejected"
    assert (await runs["small"].values())["decision"] == "auto_approve"
    before = {n: await state_of(admin, run.thread_id) for n, run in runs.items()}

    policy = stricter_policy(tmp_path)
    status, report = await replay_as(server, "erin", policy, capsys)

    assert status == 0 and report["file"] == str(policy) and report["days"] == 30
    thread = {name: run.thread_id for name, run in runs.items()}
    assert thread["trusted"] in threads_in(report, "auto_approved")
    assert thread["sanctioned"] in threads_in(report, "denied")
    assert thread["manager"] in threads_in(report, "more_approvers")
    lost = report["rules"]["approve_reject"]["examples"]["lost_deciders"]
    assert {(e["thread_id"], e["reviewer"]) for e in lost} >= {
        (thread["manager"], "bob@signoff.local")
    }
    assert "bob@signoff.local" in {person["reviewer"] for person in report["people"]}
    # The auto-approved small payment is auto-approved still: the assistant's context (its
    # auto_approve_limit) was read from the server.
    every = {
        example["thread_id"]
        for examples in report["rules"]["approve_reject"]["examples"].values()
        for example in examples
    }
    assert thread["small"] not in every
    [manager] = [
        e
        for e in report["rules"]["approve_reject"]["examples"]["more_approvers"]
        if e["thread_id"] == thread["manager"]
    ]
    assert manager["then"]["quotas"] == [{"groups": ["managers"], "count": 1}]
    assert manager["proposed"]["requirement"] == "finance over 2,000"
    assert manager["decisions"] == ["approve by bob@signoff.local"]
    # Nothing it read was changed (the server's own index may write the threads' metadata).
    after = {n: await state_of(admin, run.thread_id) for n, run in runs.items()}
    assert after == before


def test_check_reads_the_groups_from_the_workspace(workspace, tmp_path):
    """`policy check` lists the emulator's SCIM groups through databricks-sdk (paged as the
    SDK pages), so a group the workspace does not have is an error without `--groups`."""

    def listed() -> list[str]:
        return sorted(str(group.display_name) for group in workspace.groups.list())

    assert {"finance", "managers", "support-leads", "signoff-admins"} <= set(listed())
    shipped = check_policy(DEFAULT_FILE, list_groups=listed)
    assert shipped.groups_from == "workspace" and shipped.passed(), shipped.findings
    typo = tmp_path / "typo.toml"
    typo.write_text(
        DEFAULT_FILE.read_text(encoding="utf-8").replace("finance = 1", "finnance = 1"),
        encoding="utf-8",
    )
    checked = check_policy(typo, list_groups=listed)
    assert any("finnance" in finding.message for finding in checked.errors), checked.findings
