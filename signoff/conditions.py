"""Conditions of the approval policy: CEL expressions over a request, compiled when the
settings load and evaluated safely.

A requirement's `when` (`signoff.toml` `[[policy.rules.<rule>]]`) is a CEL expression, the
language Kubernetes and Google Cloud IAM write their conditions in, run by
`common-expression-language` (bindings of the Rust `cel` interpreter): no Python is
evaluated and an expression cannot loop. Evaluating one takes well under a microsecond;
handing the request's values to the interpreter costs more (about 2 µs a value), so a rule's
conditions share one `prepare`d copy of the variables they read. A condition sees one request
(`Facts`):

| variable  | type            | what                                                        |
|-----------|-----------------|-------------------------------------------------------------|
| `args`    | map             | the action's arguments, e.g. `args.amount <= 1000.0`        |
| `action`  | string          | the action or tool, e.g. `"payment"`, `"issue_refund"`      |
| `graph`   | string          | the graph that raised it                                    |
| `stage`   | string          | the stage asked (`review`, `tool_review`, a chain's stage)  |
| `requester` | string        | who raised it (the authenticated user)                      |
| `groups`  | list of strings | the requester's groups                                      |
| `context` | map             | the assistant's context, e.g. `context.auto_approve_limit`  |
| `now`     | timestamp       | when it is raised: `now.getDayOfWeek()`, `timestamp("...")` |

`compile_condition` checks a condition when the settings load: its syntax, that it names
only these variables and CEL's standard functions, and that on a probe request (every
variable of its type, `args` and `context` empty) it is a bool or fails only for want of an
argument. `Condition.holds` then evaluates it on a request: anything but `true` or `false`
(a missing argument, a type mismatch) raises `ConditionFailed`, and the policy fails closed
on it (`signoff.governance.requirements`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

import cel

VARIABLES = ("args", "action", "graph", "stage", "requester", "groups", "context", "now")
"""The names a condition may use: the fields of `Facts`."""

FUNCTIONS = frozenset(
    {
        *("_&&_", "_||_", "!_", "_?_:_", "@in", "@not_strictly_false", "-_"),
        *("_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_", "_+_", "_-_", "_*_", "_/_", "_%_"),
        *("_[_]", "has", "size", "contains", "startsWith", "endsWith", "matches"),
        *("int", "uint", "double", "string", "bytes", "bool", "type", "dyn"),
        *("timestamp", "duration", "all", "exists", "exists_one", "map", "filter"),
        *("getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate"),
        *("getDayOfWeek", "getHours", "getMinutes", "getSeconds", "getMilliseconds"),
        *("max", "min"),
    }
)
"""CEL's standard functions and operators (as the interpreter names them)."""


class Facts(TypedDict):
    """What a condition knows of one request."""

    args: dict[str, Any]
    action: str
    graph: str
    stage: str
    requester: str
    groups: list[str]
    context: dict[str, Any]
    now: datetime


class InvalidCondition(ValueError):
    """A condition that cannot be used: it does not parse, names an unknown variable or
    function, or is not a bool."""


class ConditionFailed(Exception):
    """A condition could not be evaluated on a request; `str(error)` says why."""


@dataclass(frozen=True)
class Condition:
    """A compiled condition and the text it was written as."""

    source: str
    program: Any
    """The compiled `cel.Program`."""
    variables: frozenset[str]
    """The variables it reads."""

    def holds(self, facts: Facts | Prepared) -> bool:
        """Whether the condition is true of `facts` (or of facts `prepare`d once for several
        conditions); `ConditionFailed` when it is neither true nor false of them."""
        try:
            context = (
                facts.context if isinstance(facts, Prepared) else _context(facts, self.variables)
            )
            value = self.program.execute(context)
        except Exception as error:  # noqa: BLE001 - the boundary: any failure fails closed
            raise ConditionFailed(
                f"`{self.source}` could not be evaluated: {_why(error)}"
            ) from None
        if not isinstance(value, bool):
            raise ConditionFailed(f"`{self.source}` is {value!r}, not true or false.")
        return value


@dataclass(frozen=True)
class Prepared:
    """Facts handed to the interpreter once, for every condition of a rule: converting a
    fact costs more than evaluating most conditions (about 2 µs a value against 0.3 µs)."""

    context: Any
    """The `cel.Context`."""


def prepare(facts: Facts, conditions: Iterable[Condition]) -> Prepared:
    """`facts` ready for `conditions`: only the variables some of them read."""
    names = frozenset().union(*(condition.variables for condition in conditions))
    return Prepared(_context(facts, names))


def _context(facts: Facts, names: Iterable[str]) -> Any:
    return cel.Context({name: facts[name] for name in names})  # type: ignore[literal-required]


def compile_condition(source: str) -> Condition:
    """Compile and check `source`; `InvalidCondition` says what is wrong with it."""
    if not isinstance(source, str) or not source.strip():
        raise InvalidCondition(f"a condition must be a CEL expression, got {source!r}")
    try:
        program = cel.compile(source)
    except Exception as error:  # noqa: BLE001 - any parse failure is the text's fault
        raise InvalidCondition(f"`{source}` is not CEL: {_why(error)}") from None
    if unknown := sorted(set(program.variables()) - set(VARIABLES)):
        raise InvalidCondition(
            f"`{source}` names unknown variables {unknown}; a condition may use {list(VARIABLES)}"
        )
    if unknown := sorted(set(program.functions()) - FUNCTIONS):
        raise InvalidCondition(f"`{source}` calls {unknown}, which are not CEL standard functions")
    condition = Condition(source, program, frozenset(program.variables()))
    try:
        condition.holds(PROBE)
    except ConditionFailed as failure:
        if "not true or false" in str(failure) or not _wants_an_argument(failure):
            raise InvalidCondition(str(failure)) from None
    return condition


PROBE = Facts(
    args={},
    action="",
    graph="",
    stage="",
    requester="",
    groups=[],
    context={},
    now=datetime(2026, 1, 1, tzinfo=UTC),
)
"""A request of every variable's type, with no arguments and an empty context: what a
condition is type-checked on when it loads."""


def _wants_an_argument(failure: ConditionFailed) -> bool:
    """Whether `failure` is only a key missing from `args` or `context` (which the probe
    leaves empty), not a type error on a variable whose type is known."""
    return "No such key" in str(failure) or "KeyError" in str(failure)


def _why(error: Exception) -> str:
    """An interpreter error in one line."""
    text = " ".join(str(error).split()) or type(error).__name__
    kind = type(error).__name__
    return text if kind in ("ValueError", "RuntimeError") else f"{kind}: {text}"
