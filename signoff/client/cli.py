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
request does not accept exits with status 1 and the server's message.

A THREAD (and `grant --for-thread`) is a full thread id or its start, at least
`SHORTEST_PREFIX` characters (dashes aside), that starts exactly one thread the caller may
see (`resolve_thread`); anything else exits with status 1, listing the threads it could mean.

Listings are tables fitted to the terminal when standard output is one, and tab-separated
lines otherwise (`signoff.client.terminal`); `--json` prints what scripts need. `pending`
lists, in a terminal, each request's full thread id, summary, and as many of its action,
requester, who may decide it, waiting time, expiry and approvals as fit; its lines are
`PENDING_FIELDS`, one request per line, no header. `show` prints each request's summary
first, then where it waits and who may decide it, the conversation that led to a tool call,
and each action's arguments and allowed decisions.

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
import re
import sys
from collections.abc import Callable, Coroutine
from typing import Any, cast

import httpx
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from rich.console import Group, RenderableType
from rich.highlighter import JSONHighlighter
from rich.markup import escape
from rich.text import Text

from signoff.client.answering import Refused, answer_request, server_message
from signoff.client.pending_requests import (
    PendingRequest,
    action_titles,
    approval_stats,
    metadata_of,
    pending_requests,
    requests_of,
)
from signoff.client.policy_commands import add_policy_commands, run_policy_command
from signoff.client.standing_commands import (
    STANDING_COMMANDS,
    add_standing_commands,
    run_standing_command,
)
from signoff.client.sweeper import sweep
from signoff.client.terminal import (
    SIGN_IN,
    Column,
    console,
    indented,
    plain,
    print_json,
    print_listing,
)
from signoff.client.thread_pages import searched_threads, thread_ids_starting
from signoff.clock import seconds_since, span
from signoff.governance.audit import verify_thread
from signoff.governance.policy import deciding_groups
from signoff.protocol.interrupts import approval_interrupts, waiting_interrupts
from signoff.protocol.shapes import ApprovalRequest
from signoff.protocol.summaries import (
    conversation_said,
    own_description,
    summary_of,
    tool_title,
)
from signoff.settings import environment
from signoff.signals.webhooks import deliver_due

THREAD_ARGUMENTS = ("thread", "for_thread")
"""The arguments that name a thread: each takes the start of an id too (`resolve_thread`)."""

SHORTEST_PREFIX = 4
"""The fewest characters (dashes aside) of a thread id that may stand for it."""

CANDIDATES_SHOWN = 10
"""The most threads an ambiguous start of an id lists."""

LIST_HINT = "`signoff pending` lists the requests waiting for you, with their full thread ids."

PENDING_COLUMNS = (
    Column("Thread", whole=True),
    Column("Summary", least=16, wraps_last=True),
    Column("Action", keep=5, least=10, leaves=36),
    Column("Graph", keep=8, least=14, leaves=40),
    Column("Stage", keep=6, least=8, leaves=36),
    Column("Requested by", keep=3, least=19, leaves=28),
    Column("May decide", keep=1, least=10, leaves=16),
    Column("Waiting", keep=2, leaves=16),
    Column("Expires", keep=7, leaves=40),
    Column("Approvals", keep=4, least=16, leaves=32),
)
"""`signoff pending` in a terminal: the thread and summary always, then, while they fit
beside a summary of the width each leaves it, who may decide, waiting, requester,
approvals, action, stage, expiry, graph."""

PENDING_FIELDS = (
    "thread_id",
    "summary",
    "action",
    "graph",
    "stage",
    "requested_by",
    "may_decide",
    "created_at",
    "expires_at",
    "approvals",
    "request_id",
)
"""The fields of `signoff pending`'s lines when its output is not a terminal, in order: the
action in words, the groups that may decide it now joined by commas, times in ISO 8601, an
empty field for no expiry or no approvals yet."""

AUDIT_COLUMNS = (
    Column("At", whole=True),
    Column("Decision"),
    Column("Reviewer", least=12, wraps_last=True),
    Column("Action", keep=2, least=8),
    Column("Stage", keep=3, least=8),
    Column("Comment", keep=1, least=12),
)
"""`signoff audit` in a terminal; its lines are `at, stage, action, decision, reviewer,
comment`."""

STATS_COLUMNS = (Column("What", least=12), Column("Count", whole=True))
"""`signoff stats` in a terminal; its lines are `what, count`."""


class UnclearThread(Exception):
    """A thread argument that names no thread the caller may see, or several; the message says
    which, and what to give instead."""


def main(argv: list[str] | None = None) -> int:
    """Run the command in `argv` (default: the process's arguments); the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "policy":  # `check` needs no server; `replay` signs in itself
        return run_policy_command(args)
    naming = [name for name in THREAD_ARGUMENTS if getattr(args, name, None)]
    if args.command in STANDING_COMMANDS and not naming:  # the server's API, not the SDK
        return run_standing_command(args)
    if not args.token:
        console.print(SIGN_IN)
        return 2
    try:
        return asyncio.run(_run(args, naming))
    except Refused as refusal:
        console.print(f"[red]Refused:[/red] {escape(str(refusal))}", soft_wrap=True)
    except UnclearThread as unclear:
        console.print(Text(plain(str(unclear), lines=True)))
    return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="signoff", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=environment().url)
    parser.add_argument("--token", default=environment().token)
    commands = parser.add_subparsers(dest="command", required=True)
    pending = commands.add_parser("pending", help="the requests waiting for a decision")
    pending.add_argument("--graph", help="only this graph's requests")
    pending.add_argument("--json", action="store_true")
    thread_help = f"a thread id, or its first {SHORTEST_PREFIX} or more characters"
    for name, help_text in (("show", "one thread's pending requests"), ("audit", "its trail")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("thread", help=thread_help)
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
        command.add_argument("thread", help=thread_help)
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


async def _run(args: argparse.Namespace, naming: list[str]) -> int:
    """Run the command, each thread in `naming` (the arguments that name one) resolved first;
    the exit status."""
    headers = {"Authorization": f"Bearer {args.token}"}
    async with get_client(url=args.url, headers=headers) as client:
        try:
            for name in naming:
                setattr(args, name, await resolve_thread(client, getattr(args, name)))
            if args.command in STANDING_COMMANDS:
                return await asyncio.to_thread(run_standing_command, args)
            await COMMANDS[args.command](client, args)
        except httpx.HTTPStatusError as error:  # the SDK raises this or its subclasses
            raise Refused(server_message(error)) from None
    return 0


async def resolve_thread(client: LangGraphClient, given: str) -> str:
    """The thread `given` names: a full id as it is (the server says if there is no such
    thread), else the one thread `client` may see whose id starts with it, dashes aside.
    Raises `UnclearThread` for text that is no start of an id, is shorter than
    `SHORTEST_PREFIX`, or starts no thread or several."""
    text = given.strip().lower()
    if re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text):
        return text
    digits = text.replace("-", "")
    if not re.fullmatch(r"[0-9a-f]*", digits):
        raise UnclearThread(
            f"{given!r} is not a thread id or the start of one (hex digits and dashes). "
            + LIST_HINT
        )
    if len(digits) < SHORTEST_PREFIX:
        raise UnclearThread(
            f"{given!r} is too short to pick a thread: give at least {SHORTEST_PREFIX} "
            f"characters of its id. {LIST_HINT}"
        )
    found = await thread_ids_starting(client, digits)
    if not found:
        raise UnclearThread(f"No thread you can see starts with {given!r}. {LIST_HINT}")
    if len(found) > 1:
        candidates = "\n".join(await _candidates(client, found[:CANDIDATES_SHOWN]))
        more = len(found) - CANDIDATES_SHOWN
        raise UnclearThread(
            f"{len(found)} threads you can see start with {given!r}; give more of the id, "
            f"enough to pick one:\n{candidates}" + (f"\n  and {more} more" if more > 0 else "")
        )
    return found[0]


async def _candidates(client: LangGraphClient, thread_ids: list[str]) -> list[str]:
    """A line for each of `thread_ids`: its full id, and the summaries of the requests it
    waits on (or its graph and that it waits on none)."""
    fields = ["thread_id", "status", "metadata", "interrupts"]
    found = searched_threads(client, ids=thread_ids, select=fields)
    threads = {str(thread["thread_id"]): thread async for thread in found}
    lines = []
    for thread_id in thread_ids:
        thread = threads.get(thread_id, {"thread_id": thread_id})
        waiting = requests_of(thread, waiting_interrupts(thread))
        graph = metadata_of(thread).get("graph_id") or "a thread"
        said = "; ".join(pending.summary for pending in waiting) or (
            f"{graph}, waiting on no decision ({thread.get('status') or 'unknown'})"
        )
        lines.append(f"  {thread_id}  {said}")
    return lines


async def _pending(client: LangGraphClient, args: argparse.Namespace) -> None:
    listed = [
        pending
        async for pending in pending_requests(client)
        if not args.graph or pending.graph == args.graph
    ]
    listed.sort(key=lambda pending: pending.created_at)
    if args.json:
        print_json([pending.as_row() for pending in listed])
        return
    lines = [_pending_line(pending) for pending in listed]
    print_listing(
        f"{len(listed)} pending", PENDING_COLUMNS, [_pending_cells(line) for line in lines], lines
    )


def _pending_line(pending: PendingRequest) -> list[str]:
    """A request's `PENDING_FIELDS`."""
    progress = pending.request.get("progress")
    return [
        pending.thread_id,
        pending.summary,
        pending.title,
        pending.graph,
        pending.stage,
        pending.request["requested_by"],
        ",".join(pending.may_decide),
        pending.created_at,
        pending.expires_at or "",
        progress["summary"] if progress else "",
        pending.request_id,
    ]


def _pending_cells(line: list[str]) -> list[str]:
    """A request's cells of `PENDING_COLUMNS`, from its `PENDING_FIELDS`: the same, but for
    how long it has waited and when it expires, from now."""
    *same, may_decide, created_at, expires_at, approvals, _ = line
    waiting = span(seconds_since(created_at))
    return [*same, may_decide.replace(",", ", "), waiting, _expiry(expires_at), approvals]


async def _show(client: LangGraphClient, args: argparse.Namespace) -> None:
    requests = await _requests_of(client, args.thread)
    if args.json:
        print_json(requests)
        return
    if not requests:
        console.print(f"Thread {args.thread} waits for no decision.")
    for number, request in enumerate(requests):
        console.print(*([""] if number else []), described(args.thread, request))


def described(thread_id: str, request: ApprovalRequest) -> RenderableType:
    """How `signoff show` prints `request` (an `ApprovalRequest` of thread `thread_id`): its
    summary first; where it waits and who may decide it; the conversation that led to a tool
    call; each action, its arguments and the decisions allowed; earlier stages; why the last
    answer was refused. Every value is shown as text (`plain`)."""
    lines: list[tuple[int, Text]] = [
        (0, Text(plain(summary_of(request)), style="bold")),
        (2, Text(plain(f"thread {thread_id}, request {request['request_id']}"))),
        (
            2,
            Text(
                plain(
                    f"{action_titles(request)}, stage {request['stage']!r}: raised by "
                    f"{request['requested_by']}; may decide: "
                    f"{', '.join(deciding_groups(request))}; expires "
                    f"{request.get('expires_at') or 'never'}"
                )
            ),
        ),
    ]
    if progress := request.get("progress"):
        lines.append((2, Text(plain(f"approvals: {progress['summary']}"))))
    if said := conversation_of(request):
        lines.append((2, Text("The conversation that led to it:")))
        lines += [(4, Text(plain(f"{who}: {words}", lines=True))) for who, words in said]
    for action, config in zip(request["action_requests"], request["review_configs"], strict=True):
        about = own_description(action.get("description"), summary_of(request))
        title = tool_title(action["name"])
        lines.append((2, Text(plain(f"{title}: {about}" if about else title))))
        arguments = json.dumps(action["args"], indent=2, ensure_ascii=False, default=str)
        lines.append((2, JSONHighlighter()(Text(plain(arguments, lines=True)))))
        lines.append((2, Text(plain(f"allowed: {', '.join(config['allowed_decisions'])}"))))
    for earlier in request.get("earlier_decisions") or []:
        lines.append(
            (
                2,
                Text(
                    plain(
                        f"earlier: {earlier['stage']} {earlier['decision']} by "
                        f"{earlier['reviewer']}"
                    )
                ),
            )
        )
    if request.get("error"):
        lines.append(
            (2, Text.assemble(("last answer refused: ", "yellow"), plain(request["error"])))
        )
    return Group(*(indented(text, indent) for indent, text in lines))


def conversation_of(request: ApprovalRequest) -> list[tuple[str, str]]:
    """The conversation that led to a tool call, as `(who, words)` (`conversation_said`)."""
    return [(_SPEAKERS[key], words) for key, words in conversation_said(request)]


_SPEAKERS = {"user": "user", "assistant": "model"}


_DONE = {
    "approve": "Approved",
    "edit": "Approved with edits",
    "reject": "Rejected",
    "respond": "Responded to",
    "withdraw": "Withdrew",
}


def _answer(build: Callable[[argparse.Namespace], Any]) -> Callable[..., Coroutine[Any, Any, None]]:
    """A decision command: `build(args)` is the decision object it sends."""

    async def decide(client: LangGraphClient, args: argparse.Namespace) -> None:
        answer = build(args)
        request = (await answer_request(client, args.thread, answer, args.request)).request
        kind = answer.get("type") or answer["decisions"][0]["type"]
        console.print(
            Text(
                plain(
                    f"{_DONE[kind]}: {summary_of(request)} (thread {args.thread}, request "
                    f"{request['request_id']})."
                )
            )
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
        print_listing(
            f"audit of {args.thread}",
            AUDIT_COLUMNS,
            [
                [
                    entry["at"],
                    entry["decision"],
                    _reviewer(entry),
                    tool_title(entry["action"]),
                    entry["stage"],
                    entry.get("comment") or "",
                ]
                for entry in trail
            ],
            [
                [
                    entry["at"],
                    entry["stage"],
                    entry["action"],
                    entry["decision"],
                    _reviewer(entry),
                    entry.get("comment") or "",
                ]
                for entry in trail
            ],
        )
        if args.verify:
            console.print(
                "verified: the trail is signed and chained"
                if problem is None
                else f"[red]NOT verified:[/red] {escape(problem)}"
            )
    if problem is not None:
        raise Refused(f"the audit trail does not verify: {problem}")


async def _stats(client: LangGraphClient, args: argparse.Namespace) -> None:
    stats = await approval_stats(client)
    if args.json:
        print_json(stats.as_dict())
        return
    rows = [
        *(
            [f"pending: {graph}", str(count)]
            for graph, count in sorted(stats.pending_by_graph.items())
        ),
        ["oldest waiting", span(seconds_since(stats.oldest)) or "none"],
        *(
            [f"decided today: {decision}", str(count)]
            for decision, count in sorted(stats.decisions_today.items())
        ),
    ]
    print_listing("signoff", STATS_COLUMNS, rows)


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


def _expiry(expires_at: str) -> str:
    """When a request expires, from now: `in 5h`, `due` once past, `never` without one."""
    left = seconds_since(expires_at)
    if left is None:
        return "never"
    return "due" if left >= 0 else f"in {span(-left)}"


if __name__ == "__main__":
    sys.exit(main())
