"""The `signoff` command line: the approvals inbox from a terminal.

    signoff pending [--graph G] [--json]
    signoff show THREAD [--json]
    signoff approve THREAD [--comment TEXT]
    signoff reject THREAD --reason TEXT
    signoff edit THREAD --args JSON
    signoff respond THREAD --message TEXT
    signoff withdraw THREAD [--reason TEXT]
    signoff audit THREAD [--verify] [--json]
    signoff stats [--json]
    signoff sweep
    signoff policy check FILE [--groups G,...] [--strict] [--json]
    signoff policy replay FILE [--days N] [--examples K] [--json]
    signoff grant RULE (--for-requester U | --for-graph G | --for-thread T | --for-anyone) ...
    signoff grants [--all] [--json]
    signoff revoke GRANT_ID
    signoff delegate USER (--for 7d | --until TIME) [--from TIME]
    signoff delegations [--all] [--json]
    signoff undelegate DELEGATION_ID

Every command talks to a LangGraph server (`--url`, default `SIGNOFF_URL` or
http://127.0.0.1:2024) through `langgraph-sdk`, signed in with `SIGNOFF_TOKEN` (or `--token`):
the same identities, roles and four-eyes rules as any client. A decision answers the request
the thread shows now, naming its `request_id`, so it can never approve something else; with
several requests pending, `--request` picks one. A refusal (401/403/409) or an answer the
request does not accept exits with status 1 and the server's message. `--json` prints what
scripts need instead of tables (rich).

`sweep` runs one pass of the sweeper (`signoff.client.sweeper`) and then delivers the webhook events
it queued, for deployments without a long-lived server process (e.g. a scheduled job); any
user may run it, since it can only expire what is due, over the threads they may see (an
admin's token sees them all).

`policy check` validates a proposed policy file without a server; `policy replay` evaluates
it against the requests the audit trails recorded, reading only (`signoff.client.policy_commands`).
`grant`, `grants`, `revoke`, `delegate`, `delegations` and `undelegate` manage standing approvals
and delegations through the server's `/signoff/grants` and `/signoff/delegations`
(`signoff.client.standing_commands`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any, cast

import httpx
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from rich.table import Table

from signoff.client.answering import Refused, answer_request, server_message
from signoff.client.pending_requests import approval_stats, pending_requests
from signoff.client.policy_commands import add_policy_commands, run_policy_command
from signoff.client.standing_commands import (
    STANDING_COMMANDS,
    add_standing_commands,
    run_standing_command,
)
from signoff.client.sweeper import sweep
from signoff.client.terminal import SIGN_IN, console, print_json
from signoff.clock import seconds_since
from signoff.governance.audit import verify_thread
from signoff.protocol.interrupts import approval_interrupts
from signoff.protocol.shapes import ApprovalRequest
from signoff.settings import environment
from signoff.signals.webhooks import deliver_due


def main(argv: list[str] | None = None) -> int:
    """Run the command in `argv` (default: the process's arguments); the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "policy":  # `check` needs no server; `replay` signs in itself
        return run_policy_command(args)
    if args.command in STANDING_COMMANDS:  # the server's API, not the LangGraph SDK
        return run_standing_command(args)
    if not args.token:
        console.print(SIGN_IN)
        return 2
    try:
        asyncio.run(_run(args))
    except Refused as refusal:
        console.print(f"[red]Refused:[/red] {refusal}", soft_wrap=True)
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="signoff", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=environment().url)
    parser.add_argument("--token", default=environment().token)
    commands = parser.add_subparsers(dest="command", required=True)
    pending = commands.add_parser("pending", help="the requests waiting for a decision")
    pending.add_argument("--graph", help="only this graph's requests")
    pending.add_argument("--json", action="store_true")
    for name, help_text in (("show", "one thread's pending requests"), ("audit", "its trail")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("thread")
        command.add_argument("--json", action="store_true")
    commands.choices["audit"].add_argument("--verify", action="store_true")
    for name, option, help_text in (
        ("approve", "--comment", "approve the pending request (with a comment, if given)"),
        ("reject", "--reason", "reject it, with the reason"),
        ("edit", "--args", "approve it with these arguments (JSON)"),
        ("respond", "--message", "answer it with this text instead of running it"),
        ("withdraw", "--reason", "take back a request you raised (or, as an admin, any)"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("thread")
        command.add_argument("--request", help="the request_id, when several are pending")
        if option:
            command.add_argument(option, required=name not in ("approve", "withdraw"))
    stats = commands.add_parser("stats", help="pending by graph, the oldest, decisions today")
    stats.add_argument("--json", action="store_true")
    commands.add_parser("sweep", help="remind, escalate and expire pending requests")
    for command in commands.choices.values():  # options are accepted after the command too
        command.add_argument("--url", default=argparse.SUPPRESS)
        command.add_argument("--token", default=argparse.SUPPRESS)
    add_policy_commands(commands)  # these add --url and --token themselves
    add_standing_commands(commands)
    return parser


async def _run(args: argparse.Namespace) -> None:
    headers = {"Authorization": f"Bearer {args.token}"}
    async with get_client(url=args.url, headers=headers) as client:
        try:
            await COMMANDS[args.command](client, args)
        except httpx.HTTPStatusError as error:  # the SDK raises this or its subclasses
            raise Refused(server_message(error)) from None


async def _pending(client: LangGraphClient, args: argparse.Namespace) -> None:
    rows = [
        pending.as_row()
        async for pending in pending_requests(client)
        if not args.graph or pending.graph == args.graph
    ]
    rows.sort(key=lambda row: row["created_at"] or "")
    if args.json:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} pending")
    for column in ("thread", "graph", "stage", "action", "requested by", "deciders", "waiting"):
        table.add_column(column)
    table.add_column("expires")
    table.add_column("approvals")
    for row in rows:
        table.add_row(
            row["thread_id"],
            row["graph"],
            row["stage"],
            row["action"],
            row["requested_by"],
            ", ".join(row["decided_by"] or []),
            _age(row["created_at"]),
            row["expires_at"] or "never",
            row["progress"] or "",
        )
    console.print(table)


async def _show(client: LangGraphClient, args: argparse.Namespace) -> None:
    requests = await _requests_of(client, args.thread)
    if args.json:
        print_json(requests)
        return
    if not requests:
        console.print(f"Thread {args.thread} waits for no decision.")
    for request in requests:
        console.print(
            f"[bold]{_actions(request)}[/bold], stage {request['stage']!r}, request "
            f"{request['request_id']}: raised by {request['requested_by']}, decided by "
            f"{', '.join(request['decided_by'])}; expires {request.get('expires_at') or 'never'}"
        )
        if progress := request.get("progress"):
            console.print(f"  approvals: {progress['summary']}")
        for action, config in zip(
            request["action_requests"], request["review_configs"], strict=True
        ):
            console.print(f"  {action.get('description') or action['name']}")
            console.print_json(json.dumps(action["args"], default=str))
            console.print(f"  allowed: {', '.join(config['allowed_decisions'])}")
        for earlier in request.get("earlier_decisions") or []:
            console.print(
                f"  earlier: {earlier['stage']} {earlier['decision']} by {earlier['reviewer']}"
            )
        if request.get("error"):
            console.print(f"  [yellow]last answer refused:[/yellow] {request['error']}")


def _answer(build: Callable[[argparse.Namespace], Any]) -> Callable[..., Coroutine[Any, Any, None]]:
    """A decision command: `build(args)` is the decision object it sends."""

    async def decide(client: LangGraphClient, args: argparse.Namespace) -> None:
        answer = build(args)
        request = await answer_request(client, args.thread, answer, args.request)
        console.print(
            f"Answered request {request['request_id']} ({answer.get('type', 'decision')})."
        )

    return decide


def _decisions(decision: dict[str, Any]) -> dict[str, Any]:
    return {"decisions": [decision]}


def _with_message(answer: dict[str, Any], message: str | None) -> dict[str, Any]:
    return {**answer, "message": message} if message else answer


def _edited(args: argparse.Namespace) -> dict[str, Any]:
    try:
        edited = json.loads(args.args)
    except json.JSONDecodeError as error:
        raise Refused(f"--args is not JSON: {error}") from None
    return {"decisions": [{"type": "edit", "edited_action": {"name": None, "args": edited}}]}


def _reviewer(entry: dict[str, Any]) -> str:
    """Who decided, and how they could: e.g. `dave@… for bob@… as support-leads`."""
    text = entry["reviewer"]
    if entry.get("on_behalf_of"):
        text += f" for {entry['on_behalf_of']}"
    if entry.get("groups"):
        text += f" as {', '.join(entry['groups'])}"
    return text


async def _audit(client: LangGraphClient, args: argparse.Namespace) -> None:
    # A list only for a graph whose state is a list; every signoff graph's state is a dict.
    values = cast(dict[str, Any], (await client.threads.get_state(args.thread))["values"])
    trail = values.get("audit") or []
    problem = verify_thread(values, args.thread) if args.verify else None
    if args.json:
        print_json(
            {
                "audit": trail,
                **({"verified": problem is None, "problem": problem} if args.verify else {}),
            }
        )
    else:
        table = Table(title=f"audit of {args.thread}")
        for column in ("at", "stage", "action", "decision", "reviewer", "comment"):
            table.add_column(column)
        for entry in trail:
            table.add_row(
                entry["at"],
                entry["stage"],
                entry["action"],
                entry["decision"],
                _reviewer(entry),
                entry.get("comment") or "",
            )
        console.print(table)
        if args.verify:
            console.print(
                "verified: the trail is signed and chained"
                if problem is None
                else f"[red]NOT verified:[/red] {problem}"
            )
    if problem is not None:
        raise Refused(f"the audit trail does not verify: {problem}")


async def _stats(client: LangGraphClient, args: argparse.Namespace) -> None:
    stats = await approval_stats(client)
    if args.json:
        print_json(stats.as_dict())
        return
    table = Table(title="signoff")
    table.add_column("what")
    table.add_column("count")
    for graph, count in sorted(stats.pending_by_graph.items()):
        table.add_row(f"pending: {graph}", str(count))
    table.add_row("oldest waiting", _age(stats.oldest) if stats.oldest else "none")
    for decision, count in sorted(stats.decisions_today.items()):
        table.add_row(f"decided today: {decision}", str(count))
    console.print(table)


async def _sweep(client: LangGraphClient, args: argparse.Namespace) -> None:
    report = await sweep(client)
    delivered = await asyncio.to_thread(deliver_due)
    console.print(
        f"expired {len(report.expired)}, escalated {len(report.escalated)}, reminded "
        f"{len(report.reminded)}, shown again {len(report.shown_again)}, finished "
        f"{len(report.finished)}, left busy {len(report.busy)}; webhooks: {delivered}"
    )


COMMANDS: dict[str, Callable[[LangGraphClient, argparse.Namespace], Coroutine[Any, Any, None]]] = {
    "pending": _pending,
    "show": _show,
    "approve": _answer(lambda args: _decisions(_with_message({"type": "approve"}, args.comment))),
    "reject": _answer(lambda args: _decisions({"type": "reject", "message": args.reason})),
    "edit": _answer(_edited),
    "respond": _answer(lambda args: _decisions({"type": "respond", "message": args.message})),
    "withdraw": _answer(lambda args: _with_message({"type": "withdraw"}, args.reason)),
    "audit": _audit,
    "stats": _stats,
    "sweep": _sweep,
}


async def _requests_of(client: LangGraphClient, thread_id: str) -> list[ApprovalRequest]:
    state = await client.threads.get_state(thread_id)
    return [interrupt["value"] for interrupt in approval_interrupts(state.get("interrupts") or [])]


def _actions(request: ApprovalRequest) -> str:
    return ", ".join(action["name"] for action in request.get("action_requests") or [])


def _age(created_at: str | None) -> str:
    waited = seconds_since(created_at)
    if waited is None:
        return ""
    seconds = int(waited)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


if __name__ == "__main__":
    sys.exit(main())
