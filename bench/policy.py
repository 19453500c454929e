"""What the policy costs per request: evaluating a rule, and finding a standing grant.

Both are timed outside a graph, against a baseline in the same run:

- *rule evaluation*: `signoff.governance.requirements.need_for` for the bench's tool
  (`send_payment`) under two settings files made from the shipped `signoff.toml`: `legacy`
  gives it one group (`[policy.deciders] send_payment = ["managers"]`), `conditions` gives it
  the requirements the shipped `approve_reject` rule has (three, with CEL conditions), for an
  amount each requirement catches. The settings are switched with `SIGNOFF_CONFIG` and
  `load_settings.cache_clear()` between timed blocks (`use_policy`), rounds interleaved;
- *grant lookup*: `signoff.standing.store.use_grant` on an `InMemoryStore` holding 10,000
  grants (nearly all for other rules or other requesters, a handful for the rule), against
  a store holding 10.

`bench.cycle` uses the same settings files to time an approval cycle under each policy.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import timeit
import tomllib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

from langgraph.store.memory import InMemoryStore

from bench.fakes import TOOL_NAME
from bench.report import Emit, Table, median
from signoff import clock
from signoff.conditions import Facts
from signoff.governance.identity import Identity
from signoff.governance.requirements import need_for
from signoff.review.agent_context import AgentContext
from signoff.settings import DEFAULT_FILE, environment, load_settings
from signoff.standing import store as standing
from signoff.standing.grants import new_grant

Policy = Literal["legacy", "conditions"]
SHIPPED_RULE = "approve_reject"
"""The shipped rule whose requirements the `conditions` policy gives the bench's tool."""
DECIDERS = "[policy.deciders]"


@dataclass(kw_only=True)
class PaymentContext(AgentContext):
    """An agent's context with `approve_reject`'s thresholds, which its conditions read."""

    auto_approve_limit: float = 1000.0
    review_targets: list[str] = field(default_factory=lambda: ["acct-ops"])


@dataclass(frozen=True)
class PolicySettings:
    """How much to measure."""

    rounds: int = 15
    evaluations: int = 2000
    grants: int = 10_000
    few_grants: int = 10
    covering: int = 5
    lookups: int = 300

    @classmethod
    def quick(cls) -> PolicySettings:
        """A run of a few seconds."""
        return cls(rounds=5, evaluations=500, lookups=50)


def _toml(value: Any) -> str:
    """`value` (from `tomllib`: text, numbers, booleans, lists, tables) as a TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are TOML's
    if isinstance(value, list):
        return f"[{', '.join(_toml(item) for item in value)}]"
    if isinstance(value, dict):
        pairs = (f"{_toml_key(key)} = {_toml(item)}" for key, item in value.items())
        return f"{{ {', '.join(pairs)} }}"
    return repr(value)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


@cache
def settings_files() -> dict[Policy, Path]:
    """Two settings files: the shipped one, with the bench's tool under either policy."""
    shipped = Path(environment().config or DEFAULT_FILE)
    text = shipped.read_text(encoding="utf-8")
    if text.count(f"\n{DECIDERS}\n") != 1:
        raise RuntimeError(f"{shipped}: expected one {DECIDERS} table to add the bench's rule to")
    rules = tomllib.loads(text).get("policy", {}).get("rules", {}).get(SHIPPED_RULE)
    if not rules:
        raise RuntimeError(f"{shipped} has no [[policy.rules.{SHIPPED_RULE}]] to measure")
    conditions = "".join(
        f"[[policy.rules.{TOOL_NAME}]]\n"
        + "".join(f"{_toml_key(key)} = {_toml(value)}\n" for key, value in requirement.items())
        + "\n"
        for requirement in rules
    )
    added: dict[Policy, str] = {
        "legacy": f'{DECIDERS}\n{TOOL_NAME} = ["managers"]\n',
        "conditions": f"{conditions}{DECIDERS}\n",
    }
    folder = Path(_folder().name)
    for policy, tables in added.items():
        edited = text.replace(f"\n{DECIDERS}\n", f"\n{tables}", 1)
        (folder / f"{policy}.toml").write_text(edited, encoding="utf-8")
    return {policy: folder / f"{policy}.toml" for policy in added}


@cache
def _folder() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="signoff-bench-")  # removed at exit


_current: list[Policy | None] = [None]


def use_policy(policy: Policy) -> None:
    """Make `policy`'s settings file the settings (loaded now, so not on a timed path)."""
    if _current[0] != policy:
        os.environ["SIGNOFF_CONFIG"] = str(settings_files()[policy])
        load_settings.cache_clear()
        load_settings()
        _current[0] = policy


@contextmanager
def bench_policies() -> Iterator[None]:
    """Inside, `use_policy` may switch settings; after, they are as they were before."""
    before = os.environ.get("SIGNOFF_CONFIG")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("SIGNOFF_CONFIG", None)
        else:
            os.environ["SIGNOFF_CONFIG"] = before
        load_settings.cache_clear()
        _current[0] = None


def payment_facts(amount: float, requester: str = "alice@signoff.local") -> Facts:
    """The facts of a `send_payment` request of `amount`, as the reviewed agent raises it."""
    return Facts(
        args={"amount": amount, "target": "acct-9"},
        action=TOOL_NAME,
        graph="bench_signoff",
        stage="tool_review",
        requester=requester,
        groups=["users"],
        context=asdict(PaymentContext()),
        now=datetime.now(UTC),
    )


AMOUNTS = ((500.0, "500: auto-approved"), (5000.0, "5,000: one manager"), (50000.0, "50,000"))


def rule_table(settings: PolicySettings) -> Table:
    """Microseconds per `need_for` under the condition rule and the legacy one-group rule."""

    table = Table(
        "Policy: rule evaluation (need_for, microseconds per request)",
        ["request (amount)", "legacy rule", "condition rule", "ratio", "requirement applied"],
    )
    number = settings.evaluations
    for amount, label in AMOUNTS:
        facts = payment_facts(amount)
        seconds: dict[Policy, list[float]] = {"legacy": [], "conditions": []}
        for _ in range(settings.rounds):
            for policy, times in seconds.items():
                use_policy(policy)
                times.append(_per_call(lambda f=facts: need_for(TOOL_NAME, f), number))
        applied = need_for(TOOL_NAME, facts)["requirement"]
        ratios = [c / b for c, b in zip(seconds["conditions"], seconds["legacy"], strict=True)]
        table.add(
            label,
            f"{median(seconds['legacy']) * 1e6:.1f}",
            f"{median(seconds['conditions']) * 1e6:.1f}",
            f"{median(ratios):.2f}x",
            applied,
        )
    loads = {policy: _load_seconds(policy) for policy in ("legacy", "conditions")}
    table.add(
        "load_settings (parse; compile conditions)",
        f"{loads['legacy'] * 1e6:.0f}",
        f"{loads['conditions'] * 1e6:.0f}",
        f"{loads['conditions'] / loads['legacy']:.2f}x",
        "once per settings file",
    )
    table.note(
        f"{TOOL_NAME}'s rule in the shipped settings plus one group, managers (legacy), or "
        f"the {SHIPPED_RULE} rule's requirements (conditions); {settings.rounds} interleaved "
        f"rounds of {number} calls; medians; ratio = median of paired rounds."
    )
    return table


def _per_call(call: Callable[[], object], number: int) -> float:
    """Seconds per call of `call`, over `number` calls."""
    return timeit.timeit(call, number=number) / number


def _load_seconds(policy: Policy, repeat: int = 20) -> float:
    path = str(settings_files()[policy])

    def load() -> None:
        load_settings.cache_clear()
        load_settings(path)

    return min(timeit.repeat(load, number=1, repeat=repeat))


def grant_table(settings: PolicySettings) -> Table:
    """Milliseconds per `use_grant` with many grants stored against a few."""
    table = Table(
        "Grants: lookup among many (use_grant, milliseconds per request)",
        ["grants stored", "covering the request", "ms/lookup", "ratio"],
    )
    facts = payment_facts(5000.0)
    need = need_for(TOOL_NAME, facts)
    counts = (settings.few_grants, settings.grants)
    stores = {count: grant_store(standing, count, settings.covering) for count in counts}
    seconds: dict[int, list[float]] = {count: [] for count in counts}
    for _ in range(settings.rounds):
        for count, store in stores.items():
            lookup = _lookup(standing, store, facts, need)
            seconds[count].append(_per_call(lookup, settings.lookups))
    base = median(seconds[settings.few_grants])
    for count, times in seconds.items():
        per_lookup = median(times)
        table.add(
            f"{count:,}", settings.covering, f"{per_lookup * 1000:.3f}", f"{per_lookup / base:.2f}x"
        )
    table.note(
        f"InMemoryStore. Besides the {settings.covering} grants covering the request (a payment "
        "of 5,000 by alice), one grant in ten is for the same rule and another requester, the "
        "rest for other rules. Every lookup is a new request that a grant covers; the grants "
        "set no budget, so nothing is claimed (a budget adds a claim's write, a read of the "
        f"grant's claims and the verdict's write). {settings.rounds} interleaved rounds of "
        f"{settings.lookups} lookups; medians; ratio to the smaller store."
    )
    return table


def grant_store(standing: Any, count: int, covering: int) -> InMemoryStore:
    """A store holding `count` signed grants, `covering` of them for alice's payments."""
    store = InMemoryStore()
    for number in range(count):
        if number < covering:
            rule, requester = TOOL_NAME, "alice@signoff.local"
        elif number % 10 == 0:
            rule, requester = TOOL_NAME, f"user{number}@signoff.local"
        else:
            rule, requester = f"tool_{number % 97}", "alice@signoff.local"
        _save_grant(standing, store, rule, requester)
    return store


GRANTOR = Identity("bob@signoff.local", frozenset({"users", "managers", "signoff-admins"}))
"""Who grants in the bench: one who may decide its payments, and every other rule, alone."""


def _save_grant(standing: Any, store: InMemoryStore, rule: str, requester: str) -> None:
    """Save one signed grant, made by bob for `requester`'s requests under `rule`, with a
    budget no run of the bench spends."""
    spec = {"rule": rule, "covers": {"requester": requester}, "expires_in": "7d"}
    grant = new_grant(GRANTOR, spec, clock.now())
    store.put(standing.grants_namespace(rule), grant["id"], dict(grant))


def _lookup(standing: Any, store: InMemoryStore, facts: Facts, need: Any) -> Callable[[], None]:
    """One grant lookup for a new request with `facts`; raises if no grant covered it."""

    def lookup() -> None:
        request_id = uuid.uuid4().hex
        used = standing.use_grant(
            store, rule=TOOL_NAME, facts=facts, need=need, request_id=request_id, thread_id="t"
        )
        if used is None:
            raise RuntimeError(f"no grant covered request {request_id}")

    return lookup


def run(settings: PolicySettings, emit: Emit) -> None:
    """The policy benchmark's tables, passed to `emit` as ready."""
    with bench_policies():
        use_policy("conditions")
        emit(rule_table(settings))
        emit(grant_table(settings))
