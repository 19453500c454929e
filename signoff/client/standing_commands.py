"""`signoff grant`, `grants`, `revoke`, `delegate`, `delegations`, `undelegate`: standing
approvals and delegations from a terminal, through the server's API (`/signoff/grants`,
`/signoff/delegations`), signed in with `SIGNOFF_TOKEN` (or `--token`) at `SIGNOFF_URL` (or
`--url`).

    signoff grant RULE (--for-requester USER | --for-graph G | --for-thread T | --for-anyone)
        [--arg 'amount<=5000'] [--arg target=acct-9] [--arg 'target in acct-7,acct-9']
        [--uses N | --single-use] [--total amount:5000] [--expires 7d] [--note TEXT] [--json]
    signoff grants [--all] [--json]
    signoff revoke GRANT_ID
    signoff delegate USER (--for 7d | --until 2026-12-07) [--from 2026-12-01] [--json]
    signoff delegations [--all] [--json]
    signoff undelegate DELEGATION_ID

`--arg` constrains one argument: `name=value` (exactly), `name<=n` / `name>=n` (a range; give
both for both bounds), `name in a,b,c` (one of). Values read as JSON where they are (numbers,
true, false, null, "quoted text"), else as text. `--expires` / `--for` take a duration (`7d`,
`12h`) or, like `--until` and `--from`, a time in ISO 8601 (a bare date is 00:00 UTC). A
refusal exits with status 1 and the server's sentence; a missing token with status 2.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.markup import escape

from signoff.client.terminal import SIGN_IN, Column, console, print_json, print_listing
from signoff.settings import duration_seconds, environment

_ARG = re.compile(r"^\s*([^\s<>=]+?)\s*(<=|>=|=|\s+in\s+)\s*(.*?)\s*$", re.DOTALL)


class BadOption(ValueError):
    """A command-line option that cannot be read; `str(error)` says how to write it."""


def add_standing_commands(commands: Any) -> None:
    """Add the standing commands to `commands` (the `add_subparsers()` of the `signoff`
    parser); each sets `standing` to its handler: `args.standing(args)` is the exit status
    (`run_standing_command(args)` does that)."""
    grant = commands.add_parser("grant", help="approve requests of a rule in advance")
    grant.add_argument("rule", help="a graph, graph.stage or tool")
    whom = grant.add_mutually_exclusive_group(required=True)
    whom.add_argument("--for-requester", metavar="USER")
    whom.add_argument("--for-graph", metavar="GRAPH")
    whom.add_argument("--for-thread", metavar="THREAD")
    whom.add_argument("--for-anyone", action="store_true")
    grant.add_argument("--arg", action="append", default=[], metavar="CONSTRAINT")
    grant.add_argument("--uses", type=int, help="at most this many requests")
    grant.add_argument("--single-use", action="store_true", help="one request (--uses 1)")
    grant.add_argument("--total", metavar="ARG:MAX", help="their ARG adds up to at most MAX")
    grant.add_argument("--expires", default="7d", help="a duration or a time (default 7d)")
    grant.add_argument("--note")
    grant.add_argument("--json", action="store_true")
    grant.set_defaults(standing=grant_command)

    listing = commands.add_parser("grants", help="the standing grants you may see")
    listing.add_argument("--all", action="store_true", help="revoked and expired ones too")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(standing=grants_command)

    revoke = commands.add_parser("revoke", help="revoke a grant (yours, or as an admin)")
    revoke.add_argument("grant_id")
    revoke.set_defaults(standing=revoke_command)

    delegate = commands.add_parser("delegate", help="let someone decide for you for a while")
    delegate.add_argument("delegate", help="their user name, e.g. dave@signoff.local")
    until = delegate.add_mutually_exclusive_group(required=True)
    until.add_argument("--for", dest="period", metavar="DURATION")
    until.add_argument("--until", metavar="TIME")
    delegate.add_argument("--from", dest="starts", metavar="TIME", help="default: now")
    delegate.add_argument("--json", action="store_true")
    delegate.set_defaults(standing=delegate_command)

    given = commands.add_parser("delegations", help="delegations you gave or received")
    given.add_argument("--all", action="store_true", help="revoked and ended ones too")
    given.add_argument("--json", action="store_true")
    given.set_defaults(standing=delegations_command)

    undelegate = commands.add_parser("undelegate", help="revoke a delegation")
    undelegate.add_argument("delegation_id")
    undelegate.set_defaults(standing=undelegate_command)

    for command in (grant, listing, revoke, delegate, given, undelegate):
        command.add_argument("--url", default=argparse.SUPPRESS)
        command.add_argument("--token", default=argparse.SUPPRESS)


GRANT_COLUMNS = (
    Column("Id", whole=True),
    Column("Constraints", least=16, wraps_last=True),
    Column("Rule", keep=1, least=12, leaves=20),
    Column("Covers", keep=2, least=14, leaves=20),
    Column("Budget left", keep=3, least=12, leaves=24),
    Column("Expires", keep=5, least=10, leaves=24),
    Column("Grantor", keep=6, least=12, leaves=24),
    Column("State", keep=4, leaves=24),
)
"""`signoff grants` in a terminal (State with `--all`); its lines have the same fields, in
this order, times in ISO 8601."""

DELEGATION_COLUMNS = (
    Column("Id", whole=True),
    Column("Delegate", least=12, wraps_last=True),
    Column("Delegator", keep=1, least=12),
    Column("As groups", keep=2, least=10),
    Column("From", keep=5, least=10),
    Column("Until", keep=3, least=10),
    Column("State", keep=4),
)
"""`signoff delegations` in a terminal; its lines have the same fields, in this order,
times in ISO 8601."""

STANDING_COMMANDS = ("grant", "grants", "revoke", "delegate", "delegations", "undelegate")
"""The commands `add_standing_commands` adds."""


def run_standing_command(args: argparse.Namespace) -> int:
    """Run the standing command `args` were parsed for; the exit status."""
    handler: Callable[[argparse.Namespace], int] = args.standing
    return handler(args)


def grant_command(args: argparse.Namespace) -> int:
    """`signoff grant`."""
    try:
        spec = grant_spec(args)
    except BadOption as error:
        console.print(f"[red]{escape(str(error))}[/red]", soft_wrap=True)
        return 2
    made = _call(args, "POST", "/signoff/grants", spec)
    if made is None:
        return 1
    if args.json:
        print_json(made)
    else:
        console.print(
            f"Granted {made['id']}: {made['rule']} for {_covers(made['covers'])}, "
            f"{_constraints(made['constraints'])}; {_budget(made)}; until {made['expires_at']}.",
            soft_wrap=True,
        )
    return 0


def grants_command(args: argparse.Namespace) -> int:
    """`signoff grants`."""
    listed = _call(args, "GET", "/signoff/grants" + ("?all=1" if args.all else ""))
    if listed is None:
        return 1
    if args.json:
        print_json(listed)
        return 0
    rows = [
        [
            grant["id"],
            _constraints(grant["constraints"]),
            grant["rule"],
            _covers(grant["covers"]),
            _budget(grant),
            grant["expires_at"],
            grant["granted_by"],
            *([grant["state"]] if args.all else []),
        ]
        for grant in listed
    ]
    print_listing(f"{len(listed)} grants", GRANT_COLUMNS[: 8 if args.all else 7], rows)
    return 0


def revoke_command(args: argparse.Namespace) -> int:
    """`signoff revoke`."""
    revoked = _call(args, "DELETE", f"/signoff/grants/{args.grant_id}")
    if revoked is None:
        return 1
    console.print(f"Revoked grant {revoked['id']} ({revoked['rule']}): it approves nothing more.")
    return 0


def delegate_command(args: argparse.Namespace) -> int:
    """`signoff delegate`."""
    try:
        spec: dict[str, Any] = {"delegate": args.delegate}
        if args.period:
            spec |= _end_spec("ends", args.period)
        else:
            spec["ends_at"] = _moment(args.until)
        if args.starts:
            spec["starts_at"] = _moment(args.starts)
    except BadOption as error:
        console.print(f"[red]{escape(str(error))}[/red]", soft_wrap=True)
        return 2
    made = _call(args, "POST", "/signoff/delegations", spec)
    if made is None:
        return 1
    if args.json:
        print_json(made)
    else:
        console.print(
            f"Delegated {made['id']}: {made['delegate']} may decide on behalf of "
            f"{made['delegator']} (as {', '.join(made['groups'])}) from {made['starts_at']} "
            f"until {made['ends_at']}.",
            soft_wrap=True,
        )
    return 0


def delegations_command(args: argparse.Namespace) -> int:
    """`signoff delegations`."""
    listed = _call(args, "GET", "/signoff/delegations" + ("?all=1" if args.all else ""))
    if listed is None:
        return 1
    if args.json:
        print_json(listed)
        return 0
    rows = [
        [
            item["id"],
            item["delegate"],
            item["delegator"],
            ", ".join(item["groups"]),
            item["starts_at"],
            item["ends_at"],
            item["state"],
        ]
        for item in listed
    ]
    print_listing(f"{len(listed)} delegations", DELEGATION_COLUMNS, rows)
    return 0


def undelegate_command(args: argparse.Namespace) -> int:
    """`signoff undelegate`."""
    revoked = _call(args, "DELETE", f"/signoff/delegations/{args.delegation_id}")
    if revoked is None:
        return 1
    console.print(f"Revoked delegation {revoked['id']} to {revoked['delegate']}.")
    return 0


def grant_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The API body `signoff grant` sends for `args`; `BadOption` for an unreadable option."""
    covers: dict[str, str] = {}
    for kind in ("requester", "graph", "thread"):
        if (name := getattr(args, f"for_{kind}", None)) is not None:
            covers[kind] = name
    spec: dict[str, Any] = {
        "rule": args.rule,
        "covers": covers,
        "constraints": constraints_of(args.arg),
        **_end_spec("expires", args.expires),
    }
    if args.single_use:
        spec["single_use"] = True
    if args.uses is not None:
        spec["uses"] = args.uses
    if args.total:
        name, colon, most = args.total.rpartition(":")
        try:
            spec["total"] = {"arg": name, "max": float(most)}
        except ValueError:
            name = ""
        if not colon or not name:
            raise BadOption(f"--total {args.total!r}: write ARG:MAX, e.g. amount:5000.")
    if args.note:
        spec["note"] = args.note
    return spec


def constraints_of(options: list[str]) -> dict[str, dict[str, Any]]:
    """The constraints the `--arg` options say (several bounds on one argument combine)."""
    constraints: dict[str, dict[str, Any]] = {}
    for option in options:
        match = _ARG.match(option)
        if match is None or not match[3]:
            raise BadOption(
                f"--arg {option!r}: write name=value, name<=n, name>=n or 'name in a,b,c'."
            )
        name, operator, text = match[1], match[2].strip(), match[3]
        constraint = constraints.setdefault(name, {})
        if operator == "in":
            constraint["in"] = [_value(part.strip()) for part in text.split(",")]
        elif operator == "=":
            constraint["eq"] = _value(text)
        else:
            bound = _value(text)
            if not isinstance(bound, int | float) or isinstance(bound, bool):
                raise BadOption(f"--arg {option!r}: a bound is a number.")
            constraint["max" if operator == "<=" else "min"] = bound
    return constraints


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _end_spec(prefix: str, text: str) -> dict[str, Any]:
    """`{prefix}_in` for a duration, else `{prefix}_at` for a time."""
    try:
        duration_seconds(text)
    except ValueError:
        return {f"{prefix}_at": _moment(text)}
    return {f"{prefix}_in": text}


def _moment(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadOption(
            f"{text!r} is neither a duration (7d, 12h) nor a time in ISO 8601 (2026-12-07)."
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    """The server's JSON answer to `method path`, or `None` after printing its refusal."""
    token = getattr(args, "token", None) or environment().token
    if not token:
        console.print(SIGN_IN)
        return None
    url = getattr(args, "url", None) or environment().url
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
            answer = http.request(method, path, json=body)
    except httpx.HTTPError as error:
        console.print(f"[red]Unreachable:[/red] {escape(url)}: {escape(str(error))}")
        return None
    if answer.status_code >= 400:
        try:
            detail = str(answer.json().get("detail") or answer.text)
        except ValueError:
            detail = answer.text
        console.print(f"[red]Refused:[/red] {escape(detail)}", soft_wrap=True)
        return None
    return answer.json()


def _constraints(constraints: dict[str, Any]) -> str:
    parts = []
    for name, c in sorted(constraints.items()):
        if "eq" in c:
            parts.append(f"{name} = {json.dumps(c['eq'])}")
        elif "in" in c:
            parts.append(f"{name} in {', '.join(json.dumps(v) for v in c['in'])}")
        else:
            low, high = c.get("min"), c.get("max")
            parts.append(
                f"{low} <= {name} <= {high}"
                if low is not None and high is not None
                else f"{name} >= {low}"
                if low is not None
                else f"{name} <= {high}"
            )
    return "; ".join(parts) or "any arguments"


def _covers(covers: dict[str, str]) -> str:
    return next((f"{kind} {name}" for kind, name in covers.items()), "anyone")


def _budget(grant: dict[str, Any]) -> str:
    left = grant.get("left") or {}
    parts = []
    if grant.get("uses") is not None:
        parts.append(f"{left.get('uses')} of {grant['uses']} uses")
    if total := grant.get("total"):
        parts.append(f"{left.get('total'):g} of {total['max']:g} {total['arg']}")
    return ", ".join(parts) or "no limit but the expiry"
