"""`signoff policy replay`: what a proposed policy would have changed, judged on the requests
the audit trails recorded.

Each thread's signed trail records its requests: every entry carries the request it answers
(its need's `id`, which every vote of a quorum shares, else its `request_id`), the arguments
shown (`args_before`), the stage, who decided and when, and (since
requirements) the `need` that applied then and the `groups` the reviewer decided as. A
recorded request is rebuilt as the `Facts` the policy saw (`recorded_requests`): its first
entry's arguments and action, the thread's graph, the stage, the thread's requester, no
requester groups (they are not recorded), the context of the thread's assistant as it is now
(`assistant_contexts`: its context over its graph's defaults), and the time it was raised. The
proposed settings' requirements of its rule then give the need it would have had
(`signoff.governance.requirements.need_for` on the proposed settings: the code production
runs), which is compared with the need it had (`compare`):

- `auto_approved`: it waited for a person, and would have run without one;
- `more_approvers`: it would have needed approvals it did not (more of them, or a quota of
  other groups);
- `denied`: it would never have run;
- `no_longer_denied`: it was denied, and would have waited for approvals instead;
- people who could no longer have decided it: a reviewer none of whose deciding groups (as
  recorded, else the groups of the need then) decides under the proposed need.

A request whose proposed need failed closed (`strictest`) is also counted as
`failed_closed`, with why: a condition that needs what the trail does not record (the
requester's groups) shows up there. `replay` adds these up per rule with up to `examples`
examples each (`Replay`). Reading uses `threads.search`, `assistants.get` and
`assistants.get_schemas` only: nothing it reads is changed.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
from langgraph_sdk.client import LangGraphClient

from signoff import clock
from signoff.client.pending_requests import metadata_of
from signoff.client.thread_pages import searched_threads
from signoff.conditions import Facts
from signoff.governance.requirements import approvals_needed, deciders_of, need_for
from signoff.protocol.shapes import SYSTEM, Need, QuotaShape
from signoff.settings import Settings, by_rule

Change = Literal["auto_approved", "more_approvers", "denied", "no_longer_denied"]
CHANGES: tuple[Change, ...] = ("auto_approved", "more_approvers", "denied", "no_longer_denied")
"""What a proposed policy may change about one request (`compare`)."""

OUTCOMES = ("auto_approve", "deny", "approve")
"""What a need may say."""

DECIDING = ("approve", "edit", "reject", "respond")
"""The answers that decide a request (a withdrawal does not)."""

CHAIN_GRAPH = "multi_stage_approval"
"""The graph whose stages are rules of their own (`multi_stage_approval.<stage>`)."""


@dataclass(frozen=True)
class Recorded:
    """One request as a thread's audit trail recorded it."""

    thread_id: str
    request_id: str
    rule: str
    facts: Facts
    then: Need
    """The need it had: recorded in its entries or its policy, else inferred (`then_recorded`)."""
    then_recorded: bool
    entries: tuple[Mapping[str, Any], ...]
    """Its entries, oldest first."""


def compare(then: Need, now: Need, then_recorded: bool = True) -> Change | None:
    """How `now` (the proposed need) differs from `then` (the need a request had), or `None`
    when the change is none of `CHANGES`. Without a recorded need (`then_recorded` false)
    its groups are unknown: only a larger number of approvals counts as more."""
    if now["outcome"] == "auto_approve":
        return "auto_approved" if then["outcome"] != "auto_approve" else None
    if now["outcome"] == "deny":
        return "denied" if then["outcome"] != "deny" else None
    if then["outcome"] == "deny":
        return "no_longer_denied"
    if then["outcome"] == "auto_approve" or approvals_needed(now) > approvals_needed(then):
        return "more_approvers"
    if then_recorded and _group_sets(now) != _group_sets(then):
        return "more_approvers"
    return None


def _group_sets(need: Need) -> set[frozenset[str]]:
    return {frozenset(quota["groups"]) for quota in need["quotas"]}


@dataclass(frozen=True)
class Lost:
    """A person who decided a request and could not have under the proposed need."""

    reviewer: str
    groups: list[str]
    """The groups they decided as (recorded, else those of the need then)."""
    on_behalf_of: str | None = None


def lost_deciders(request: Recorded, now: Need, escalate_to: str | None = None) -> list[Lost]:
    """The people who decided `request` and could not have under `now`: their deciding groups
    meet none of `now`'s. A vote the request's escalation let in counts as of its group,
    which decides if the proposed rule escalates to it too (`escalate_to`)."""
    if now["outcome"] != "approve":
        return []
    deciding = set(deciders_of(now)) | ({escalate_to} if escalate_to else set())
    lost: dict[str, Lost] = {}
    for entry in request.entries:
        reviewer = str(entry.get("reviewer") or "")
        if reviewer in ("", SYSTEM) or entry.get("decision") not in DECIDING:
            continue
        groups = _deciding_groups(entry, request)
        if groups and not groups & deciding and reviewer not in lost:
            lost[reviewer] = Lost(reviewer, sorted(groups), entry.get("on_behalf_of"))
    return list(lost.values())


def _deciding_groups(entry: Mapping[str, Any], request: Recorded) -> set[str]:
    """The groups `entry`'s reviewer decided as: recorded, else its escalation group, else
    (a trail from before groups were recorded) those of the request's need then."""
    if isinstance(entry.get("groups"), list):
        return {str(group) for group in entry["groups"]}
    if entry.get("escalated_to"):
        return {str(entry["escalated_to"])}
    return set(deciders_of(request.then)) if request.then_recorded else set()


def recorded_requests(
    thread: Mapping[str, Any],
    since: datetime | None = None,
    contexts: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Recorded]:
    """The requests a server thread record's audit trail holds (raised at or after `since`),
    oldest first, each under its assistant's context (`contexts`, by assistant id); state
    edits and malformed entries are left out."""
    assistant = str(metadata_of(dict(thread)).get("assistant_id") or "")
    context = dict((contexts or {}).get(assistant) or {})
    values = thread.get("values")
    values = values if isinstance(values, dict) else {}
    trail = values.get("audit")
    graph = str(metadata_of(dict(thread)).get("graph_id") or "")
    requests: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for entry in trail if isinstance(trail, list) else []:
        if not isinstance(entry, dict) or entry.get("decision") == "state_edit":
            continue
        if not isinstance(entry.get("args_before"), dict):
            continue
        requests[request_key(entry)].append(entry)
    found = []
    for request_id, entries in requests.items():
        first = entries[0]
        raised = clock.parse(first.get("raised_at")) or clock.parse(first.get("at"))
        if raised is None or (since is not None and raised < since):
            continue
        policy = _policy_of(values, first, request_id)
        then, recorded = _then(entries, policy)
        found.append(
            Recorded(
                thread_id=str(thread.get("thread_id") or ""),
                request_id=request_id,
                rule=rule_of(first, graph, policy),
                facts=Facts(
                    args=dict(first["args_before"]),
                    action=str(first.get("action") or ""),
                    graph=graph,
                    stage=str(first.get("stage") or ""),
                    requester=str(values.get("requested_by") or ""),
                    groups=[],
                    context=context,
                    now=raised,
                ),
                then=then,
                then_recorded=recorded,
                entries=tuple(entries),
            )
        )
    return found


def request_key(entry: Mapping[str, Any]) -> str:
    """Which request `entry` answers: its need's `id` (the request as raised, shared by every
    pause of it, such as each vote of a quorum), else its `request_id`, else itself."""
    need = entry.get("need")
    if isinstance(need, Mapping) and need.get("id"):
        return str(need["id"])
    return str(entry.get("request_id") or entry.get("signature") or id(entry))


def rule_of(entry: Mapping[str, Any], graph: str, policy: Mapping[str, Any] | None) -> str:
    """The rule a recorded request fell under: its policy's, else by where it was raised (a
    tool review: the tool; a chain's stage: `multi_stage_approval.<stage>`; otherwise, and
    for the graphs' own auto-approvals, the graph)."""
    if policy and isinstance(policy.get("rule"), str):
        return str(policy["rule"])
    stage = str(entry.get("stage") or "")
    if stage == "tool_review":
        return str(entry.get("action") or graph)
    if stage != "policy" and ("chain" in entry or graph == CHAIN_GRAPH):
        return f"{CHAIN_GRAPH}.{stage}"
    return graph


def _policy_of(
    values: Mapping[str, Any], entry: Mapping[str, Any], request_id: str
) -> Mapping[str, Any] | None:
    """The policy the thread's state froze for the request of `entry`: a tool call's
    (`review_policies`), a chain stage's (`policies`) or the thread's (`policy`); one
    raised for another request (a later one on the same thread) is not it."""
    found: Any = None
    if isinstance(values.get("review_policies"), dict) and entry.get("call_id"):
        found = values["review_policies"].get(entry["call_id"])
    elif isinstance(values.get("policies"), dict) and entry.get("stage") in values["policies"]:
        found = values["policies"][entry["stage"]]
    elif isinstance(values.get("policy"), dict):
        found = values["policy"]
    if not isinstance(found, dict):
        return None
    need = found.get("need")
    raised = {found.get("request_id"), need.get("id") if isinstance(need, dict) else None}
    return found if raised == {None} or request_id in raised else None


def _then(
    entries: Sequence[Mapping[str, Any]], policy: Mapping[str, Any] | None
) -> tuple[Need, bool]:
    """The need the request had, and whether it was recorded (not inferred): its entries'
    `need`, else its policy's, else one approval of its policy's deciders; a graph's own
    auto-approval (stage `policy`) needed nobody."""
    for need in [*(entry.get("need") for entry in entries), (policy or {}).get("need")]:
        if (recorded := as_need(need)) is not None:
            return recorded, True
    first = entries[0]
    if first.get("stage") == "policy" and first.get("decision") == "auto_approve":
        auto = {"requirement": first.get("comment") or "auto_approve", "outcome": "auto_approve"}
        return _need_of(auto), True
    groups = [str(group) for group in (policy or {}).get("decided_by") or []]
    deciders = {"requirement": "deciders", "outcome": "approve", "quotas": [{"groups": groups}]}
    return _need_of(deciders), bool(groups)


def as_need(value: Any) -> Need | None:
    """A recorded need (from an audit entry or a policy), or `None` when `value` is none."""
    if not isinstance(value, Mapping) or value.get("outcome") not in OUTCOMES:
        return None
    return _need_of(value)


def _need_of(value: Mapping[str, Any]) -> Need:
    """`value` as a `Need`, each field defaulted as an entry from before it would lack it."""
    quotas = value["quotas"] if isinstance(value.get("quotas"), list) else []
    return Need(
        requirement=str(value.get("requirement") or "?"),
        when=value.get("when") if isinstance(value.get("when"), str) else None,
        outcome=value["outcome"] if value.get("outcome") in OUTCOMES else "approve",
        quotas=[
            QuotaShape(groups=[str(g) for g in q.get("groups") or []], count=int(q.get("count", 1)))
            for q in quotas
            if isinstance(q, Mapping)
        ],
        rejections=int(value.get("rejections") or 1),
        because=value.get("because") if isinstance(value.get("because"), str) else None,
    )


@dataclass
class RuleReplay:
    """What the proposed policy changes about one rule's requests."""

    requests: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    """By change (`CHANGES`), `lost_deciders` (people, per request) and `failed_closed`."""
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))


@dataclass
class Replay:
    """The report of one replay."""

    days: float
    since: str
    examples: int
    threads: int = 0
    requests: int = 0
    rules: dict[str, RuleReplay] = field(default_factory=dict)
    people: dict[str, Counter[str]] = field(default_factory=dict)
    """Who could no longer have decided → how many of each rule's requests they decided."""

    def totals(self) -> Counter[str]:
        """The counts of every rule added up (every change, even those at 0)."""
        total: Counter[str] = Counter(
            dict.fromkeys([*CHANGES, "lost_deciders", "failed_closed"], 0)
        )
        for rule in self.rules.values():
            total.update(rule.counts)
        return total

    def add(self, request: Recorded, now: Need, escalate_to: str | None = None) -> None:
        """Count `request` under its rule, judged by its proposed need `now`."""
        self.requests += 1
        rule = self.rules.setdefault(request.rule, RuleReplay())
        rule.requests += 1
        found: list[tuple[str, dict[str, Any]]] = []
        if (change := compare(request.then, now, request.then_recorded)) is not None:
            found.append((change, _example(request, now)))
        if now["requirement"] == "strictest":
            found.append(("failed_closed", _example(request, now)))
        for lost in lost_deciders(request, now, escalate_to):
            found.append(
                (
                    "lost_deciders",
                    {
                        **_example(request, now),
                        "reviewer": lost.reviewer,
                        "reviewer_groups": lost.groups,
                    },
                )
            )
            self.people.setdefault(lost.reviewer, Counter())[request.rule] += 1
        for kind, example in found:
            rule.counts[kind] += 1
            if len(rule.examples[kind]) < self.examples:
                rule.examples[kind].append(example)

    def as_dict(self) -> dict[str, Any]:
        """What `signoff policy replay --json` prints."""
        return {
            "days": self.days,
            "since": self.since,
            "threads": self.threads,
            "requests": self.requests,
            "counts": dict(self.totals()),
            "people": [
                {"reviewer": person, "requests": sum(rules.values()), "rules": dict(rules)}
                for person, rules in sorted(self.people.items())
            ],
            "rules": {
                name: {
                    "requests": rule.requests,
                    "counts": dict(rule.counts),
                    "examples": dict(rule.examples),
                }
                for name, rule in sorted(self.rules.items())
            },
        }


def _example(request: Recorded, now: Need) -> dict[str, Any]:
    """One request as an example: where it is, what it asked, what it needed and would need."""
    return {
        "thread_id": request.thread_id,
        "request_id": request.request_id,
        "raised_at": clock.stamp(request.facts["now"]),
        "action": request.facts["action"],
        "args": request.facts["args"],
        "requester": request.facts["requester"],
        "decisions": [
            f"{entry.get('decision')} by {entry.get('reviewer')}" for entry in request.entries
        ],
        "then": _shown(request.then),
        "proposed": _shown(now),
    }


def _shown(need: Need) -> dict[str, Any]:
    return {
        "requirement": need["requirement"],
        "outcome": need["outcome"],
        "quotas": need["quotas"],
        **({"because": need["because"]} if need["because"] else {}),
    }


def describe_need(need: Mapping[str, Any]) -> str:
    """A need in words, e.g. `approve: 1 of managers + 1 of finance (large)`."""
    quotas = " + ".join(
        f"{q['count']} of {' or '.join(q['groups']) or '?'}" for q in need["quotas"]
    )
    what = f"approve: {quotas}" if need["outcome"] == "approve" else need["outcome"]
    return f"{what} ({need['requirement']})"


def replay(
    settings: Settings,
    threads: Iterable[Mapping[str, Any]],
    *,
    days: float,
    examples: int,
    at: datetime | None = None,
    contexts: Mapping[str, Mapping[str, Any]] | None = None,
) -> Replay:
    """What `settings` would have changed about the requests of `threads` raised in the
    `days` before `at` (now by default), under their assistants' `contexts`."""
    since = (at or clock.now()) - timedelta(days=days)
    report = Replay(days=days, since=clock.stamp(since), examples=examples)
    for thread in threads:
        report.threads += 1
        for request in recorded_requests(thread, since, contexts):
            now = need_for(request.rule, request.facts, settings)
            report.add(request, now, escalation_of(settings, request.rule))
    return report


def escalation_of(settings: Settings, rule: str) -> str | None:
    """The group `settings` let `rule`'s requests escalate to."""
    deadlines = by_rule(settings.deadlines, rule) or settings.deadlines.get("default")
    return deadlines.escalate_to if deadlines else None


async def recorded_threads(
    client: LangGraphClient, days: float, at: datetime | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Every thread `client` may read that was updated in the `days` before `at`, newest
    first (an admin's client reads them all); read-only."""
    since = (at or clock.now()) - timedelta(days=days)
    fields = ["thread_id", "metadata", "values", "updated_at"]
    newest_first = {"sort_by": "updated_at", "sort_order": "desc"}
    async for thread in searched_threads(client, select=fields, **newest_first):
        updated = clock.parse(thread.get("updated_at"))
        if updated is not None and updated < since:
            return
        yield thread


def context_of(
    assistant: Mapping[str, Any], context_schema: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The context an assistant's runs see: its `context` over the defaults of its graph's
    context schema. A property the schema gives no default and does not require (a
    dataclass field with a `default_factory`) starts empty, as such fields do."""
    empty: dict[str, Any] = {"array": [], "object": {}, "string": ""}
    schema = context_schema or {}
    required = set(schema.get("required") or [])
    context: dict[str, Any] = {}
    for name, spec in (schema.get("properties") or {}).items():
        if not isinstance(spec, Mapping):
            continue
        if "default" in spec:
            context[name] = spec["default"]
        elif name not in required and spec.get("type") in empty:
            context[name] = copy.deepcopy(empty[spec["type"]])
    given = assistant.get("context")
    return {**context, **(given if isinstance(given, Mapping) else {})}


async def assistant_contexts(
    client: LangGraphClient, threads: Iterable[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The context of every assistant that ran one of `threads` (`context_of`), read with
    `assistants.get` and `get_schemas`; an assistant that cannot be read (deleted since)
    gives an empty context, on which conditions that need it fail closed."""
    contexts: dict[str, dict[str, Any]] = {}
    for thread in threads:
        assistant_id = str(metadata_of(dict(thread)).get("assistant_id") or "")
        if not assistant_id or assistant_id in contexts:
            continue
        try:
            assistant = await client.assistants.get(assistant_id)
            schemas = await client.assistants.get_schemas(assistant_id)
        except httpx.HTTPStatusError as error:
            if error.response.status_code >= 500:
                raise
            contexts[assistant_id] = {}
            continue
        schema = dict(schemas).get("context_schema")
        contexts[assistant_id] = context_of(
            dict(assistant), schema if isinstance(schema, Mapping) else None
        )
    return contexts
