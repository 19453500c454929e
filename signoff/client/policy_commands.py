"""`signoff policy`: try a proposed policy file before putting it in force.

    signoff policy check FILE [--groups G1,G2] [--strict] [--json]
    signoff policy replay FILE [--days N] [--examples K] [--json]

`check` reads the file as the server would and reports what keeps it out of force (it does not
load, or names groups the workspace lacks) and what looks wrong (rules of nothing, rules
whose unmatched requests fail closed): `signoff.client.policy_check`. It needs no server.

`replay` reads the audit trails of the threads updated in the last `--days` (30) from the
server and reports what the file would have changed about their requests, with up to
`--examples` (3) per rule and change: `signoff.client.policy_replay`. It reads only, with the
token's rights: an admin's token reads every thread.

Both exit with status 0 when the file may go in force (`check --strict`: no warnings either)
and 1 otherwise; `--json` prints what scripts need instead of tables.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import httpx
from langgraph_sdk import get_client
from rich.markup import escape
from rich.table import Table

from signoff.client.answering import server_message
from signoff.client.policy_check import Finding, PolicyCheck, check_policy, load_proposed
from signoff.client.policy_replay import (
    CHANGES,
    Replay,
    assistant_contexts,
    describe_need,
    recorded_threads,
    replay,
)
from signoff.client.terminal import SIGN_IN, console, print_json
from signoff.settings import environment

REPLAY_SIGN_IN = f"{SIGN_IN[:-1]}; an admin's reads every thread."


def add_policy_commands(commands: Any) -> argparse.ArgumentParser:
    """Add `policy check` and `policy replay` to `commands` (the `add_subparsers()` of the
    `signoff` parser); run them with `run_policy_command(args)`."""
    policy = commands.add_parser("policy", help="check or replay a proposed policy file")
    actions = policy.add_subparsers(dest="policy_command", required=True)
    check = actions.add_parser("check", help="whether a policy file may go in force")
    check.add_argument("file")
    check.add_argument(
        "--groups",
        type=lambda text: [group.strip() for group in text.split(",") if group.strip()],
        help="the workspace's groups, comma separated (default: listed from the workspace)",
    )
    check.add_argument("--strict", action="store_true", help="warnings fail the check too")
    check.add_argument("--json", action="store_true")
    again = actions.add_parser("replay", help="what a policy file would have changed")
    again.add_argument("file")
    again.add_argument("--days", type=float, default=30.0, help="how far back (default 30)")
    again.add_argument("--examples", type=int, default=3, help="examples per rule (default 3)")
    again.add_argument("--json", action="store_true")
    for command in (policy, check, again):  # accepted after the command too
        command.add_argument("--url", default=argparse.SUPPRESS)
        command.add_argument("--token", default=argparse.SUPPRESS)
    return policy


def run_policy_command(args: argparse.Namespace) -> int:
    """Run the `policy` command `args` were parsed for; the exit status."""
    return asyncio.run(run_policy(args))


async def run_policy(args: argparse.Namespace) -> int:
    """`run_policy_command`, in a running event loop."""
    if args.policy_command == "check":
        checked = await asyncio.to_thread(check_policy, args.file, args.groups)
        _print_check(checked, args.json)
        return 0 if checked.passed(args.strict) else 1
    try:
        settings = load_proposed(args.file)
    except ValueError as error:
        _print_check(PolicyCheck(file=args.file), args.json, str(error))
        return 1
    token = getattr(args, "token", None) or environment().token
    if not token:
        console.print(REPLAY_SIGN_IN)
        return 2
    url = getattr(args, "url", None) or environment().url
    async with get_client(url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        try:
            threads = [thread async for thread in recorded_threads(client, args.days)]
            contexts = await assistant_contexts(client, threads)
        except httpx.HTTPStatusError as error:
            console.print(f"[red]Refused:[/red] {server_message(error)}", soft_wrap=True)
            return 1
    replayed = replay(
        settings, threads, days=args.days, examples=max(args.examples, 0), contexts=contexts
    )
    _print_replay(replayed, args.file, args.json)
    return 0


def _print_check(report: PolicyCheck, as_json: bool, refusal: str | None = None) -> None:
    if refusal is not None:
        report.findings.append(Finding("error", refusal))
    if as_json:
        print_json(report.as_dict())
        return
    if report.loaded:
        console.print(
            escape(
                f"{report.file}: {report.rules} rules, {report.requirements} requirements, "
                f"{report.conditions} conditions compiled; groups checked against: "
                f"{report.groups_from}."
            ),
            soft_wrap=True,
        )
    for finding in report.findings:
        colour = "red" if finding.level == "error" else "yellow"
        console.print(
            f"[{colour}]{finding.level}:[/{colour}] {escape(finding.message)}", soft_wrap=True
        )
    if not report.findings:
        console.print("[green]ok:[/green] the policy may go in force.")


def _print_replay(report: Replay, file: str, as_json: bool) -> None:
    if as_json:
        print_json({"file": file, **report.as_dict()})
        return
    totals = report.totals()
    summary = Table(
        title=escape(
            f"{file} replayed on {report.requests} requests of {report.threads} threads "
            f"since {report.since}"
        )
    )
    summary.add_column("rule")
    summary.add_column("requests", justify="right")
    for change in (*CHANGES, "lost_deciders", "failed_closed"):
        summary.add_column(change.replace("_", " "), justify="right")
    for name, rule in sorted(report.rules.items()):
        summary.add_row(
            escape(name),
            str(rule.requests),
            *(str(rule.counts[c]) for c in (*CHANGES, "lost_deciders", "failed_closed")),
        )
    summary.add_row(
        "[bold]all[/bold]",
        str(report.requests),
        *(str(totals[c]) for c in (*CHANGES, "lost_deciders", "failed_closed")),
    )
    console.print(summary)
    if report.people:
        people = Table(title="people who could no longer have decided")
        for column in ("reviewer", "requests", "rules"):
            people.add_column(column)
        for person, rules in sorted(report.people.items()):
            people.add_row(
                escape(person), str(sum(rules.values())), escape(", ".join(sorted(rules)))
            )
        console.print(people)
    examples = Table(title="examples")
    for column in ("rule", "change", "thread", "raised", "args", "then", "proposed"):
        examples.add_column(column)
    for name, rule in sorted(report.rules.items()):
        for change, shown in sorted(rule.examples.items()):
            for example in shown:
                cells = (
                    name,
                    change.replace("_", " ")
                    + (f": {example['reviewer']}" if "reviewer" in example else ""),
                    example["thread_id"],
                    example["raised_at"],
                    json.dumps(example["args"], default=str)[:80],
                    describe_need(example["then"]),
                    describe_need(example["proposed"]),
                )
                examples.add_row(*map(escape, cells))
    if examples.row_count:
        console.print(examples)
