"""Execution: the one place that checks approvals and runs things.

Nothing runs on the word of state alone. Before anything executes, the thread's audit trail
is verified (`signoff.governance.audit.trail_problem`: every entry signed by this server, for this
thread, in order) and must hold an approval of exactly the arguments about to run. Otherwise nothing
runs and the outcome says why (`status: "refused"`, or an error result for a tool call): a
state edit that skips a review, a forged or altered entry, or a reordered trail.

- `execute_once` runs an approved operation of the single-action graphs through the ledger
  (`signoff.execution.ledger`), keyed by the approved request, so a retry after a crash runs nothing
  new.
- `chain_refusal` checks that every stage of a chain, as it was raised, approved exactly the
  arguments that run, each by a different person (`stage_approvals`: an approval of other
  arguments does not count, so a stage must approve again after an edit).
- `approved_not_run` finds what a stopped run left approved but not run.
- `run_tool_calls` runs an agent turn's tool calls as their signed decisions say; it never
  reads anything but the verified trail.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from langchain_core.messages import ToolCall, ToolMessage
from langchain_core.tools import BaseTool, ToolException

from signoff.execution import ledger
from signoff.execution.idempotency import idempotency_key
from signoff.governance.audit import AuditEntry, trail_problem
from signoff.governance.quorum import current_votes, is_quorum, request_votes, tally
from signoff.protocol.shapes import SYSTEM, WITHDRAW, Chain, Status

APPROVALS = ("approve", "edit", "auto_approve")


def refused(reason: str) -> dict[str, Any]:
    """The update for an execution that ran nothing, and why."""
    return {"status": "refused", "reason": reason, "result": None}


def approval_of(trail: list[AuditEntry], action: str, args: dict[str, Any]) -> AuditEntry | None:
    """The latest decision on `action` if it approved exactly `args` (with the quorum its
    request needed), else `None`."""
    latest = next((entry for entry in reversed(trail) if entry["action"] == action), None)
    if latest is None or latest["decision"] not in APPROVALS or latest["args_after"] != args:
        return None
    return latest if quorum_met(trail, latest) else None


def settled(trail: list[AuditEntry], latest: AuditEntry) -> bool:
    """Whether the decision `latest` ends its request: anything but a vote of a quorum that
    neither completes its approvals nor brings its rejections to what rejects it."""
    need = latest.get("need")
    if not need or not is_quorum(need) or latest["reviewer"] == SYSTEM:
        return True
    if latest["decision"] not in ("approve", "edit", "reject"):
        return True
    votes = request_votes(trail, need)
    _, counting = current_votes(votes, votes[0]["args_before"]) if votes else (None, [])
    counts = tally(need, counting)
    return counts.complete or counts.rejected


def quorum_met(trail: list[AuditEntry], latest: AuditEntry) -> bool:
    """Whether approval `latest` completes what its request needed: for a quorum, enough
    distinct authorised people approved exactly its arguments since the last edit (counted
    from the signed entries, which record each voter's groups and the need), and not enough
    rejected; any other approval stands alone."""
    need = latest.get("need")
    if not need or not is_quorum(need):
        return True
    votes = request_votes(trail, need)
    if not votes:
        return False
    args, counting = current_votes(votes, votes[0]["args_before"])
    counts = tally(need, counting)
    return args == latest["args_after"] and counts.complete and not counts.rejected


def execute_once(
    kind: str, details: dict[str, Any], trail: list[AuditEntry], status: Status = "executed"
) -> dict[str, Any]:
    """Run the approved operation through the ledger and report it; call from a node that
    never pauses. Refuses unless the verified `trail` approves exactly `details`. The ledger
    key is derived from the thread, the approved request and the action, so a retry after a
    crash executes nothing new."""
    if problem := trail_problem(trail):
        return refused(f"the audit trail does not verify ({problem}); nothing was executed")
    approval = approval_of(trail, kind, details)
    if approval is None:
        return refused(f"no approval of these exact arguments for {kind!r} is on record")
    if not approval.get("request_id"):
        return refused(f"the approval of {kind!r} names no request, so it cannot be run once")
    key = idempotency_key(approval["request_id"], kind)
    entry = ledger.execute(kind, details, key)
    return {"status": status, "result": {"ledger_id": entry["id"], "at": entry["at"]}}


def chain_decisions(trail: list[AuditEntry], chain: Chain) -> list[AuditEntry]:
    """The decisions of `chain`'s stages on `trail`, oldest first."""
    return [e for e in trail if "chain" in e and e["chain"]["id"] == chain["id"]]


def stages_as_raised(trail: list[AuditEntry], chain: Chain) -> list[str]:
    """The stages `chain` requires: as its first decision recorded them (the request as
    raised), or as `chain` says while none has decided."""
    decided = chain_decisions(trail, chain)
    return list(decided[0]["chain"]["stages"]) if decided else list(chain["stages"])


def stage_approvals(
    trail: list[AuditEntry], chain: Chain, action: str, args: dict[str, Any]
) -> dict[str, AuditEntry]:
    """Stage → its latest decision, for each stage of `chain` whose latest decision approved
    exactly `action` with `args`. A stage that approved other arguments must approve again."""
    latest = {entry["stage"]: entry for entry in chain_decisions(trail, chain)}
    return {
        stage: entry
        for stage, entry in latest.items()
        if entry["decision"] in APPROVALS
        and entry["action"] == action
        and entry["args_after"] == args
        and quorum_met(trail, entry)
    }


def chain_refusal(
    trail: list[AuditEntry], chain: Chain, action: str, args: dict[str, Any]
) -> str | None:
    """Why `chain` does not approve running `action` with `args`, or `None`: every stage of
    the chain as it was raised approved exactly these arguments, each a different person (the
    trail itself is verified before anything runs, `execute_once`)."""
    required = stages_as_raised(trail, chain)
    changed = [
        entry["stage"]
        for entry in chain_decisions(trail, chain)
        if entry["chain"]["stages"] != required
    ]
    if changed:
        return (
            f"the chain's stages changed after it was raised as {required} (at {changed}); "
            "nothing was executed"
        )
    approvals = stage_approvals(trail, chain, action, args)
    if missing := [stage for stage in required if stage not in approvals]:
        return f"stages {missing} have not approved these exact arguments; nothing was executed"
    people = [deciders_of_stage(trail, approvals[stage]) for stage in required]
    for index, stage in enumerate(required):
        for later, other in zip(required[index + 1 :], people[index + 1 :], strict=True):
            if shared := sorted(people[index] & other):
                return (
                    f"one person decided two stages ({', '.join(shared)}: {stage!r} and "
                    f"{later!r}); nothing was executed"
                )
    return None


def deciders_of_stage(trail: list[AuditEntry], approval: AuditEntry) -> set[str]:
    """Everyone who decided the request `approval` completed (each voter, and whoever they
    stood in for); the policy (`system`) is nobody."""
    need = approval.get("need")
    votes = (request_votes(trail, need) if need else []) or [approval]
    return {
        person
        for vote in votes
        for person in (vote["reviewer"], vote.get("on_behalf_of"))
        if person and person != SYSTEM
    }


def approved_not_run(values: Any) -> list[str]:
    """The actions a thread's state shows approved but not yet run: a run stopped between the
    approval and the execution (cancelled, or its worker died). Reads the server's JSON form
    of the state (or the graph's own); anything malformed counts as nothing approved.

    A single-action graph's approval is the outcome's `decision` with no `status` yet; an
    agent's is a signed decision on a tool call of its last message that has no result."""
    if not isinstance(values, dict):
        return []
    messages, trail = values.get("messages"), values.get("audit")
    if not isinstance(messages, list):
        if values.get("decision") not in APPROVALS or values.get("status"):
            return []
        latest = trail[-1] if isinstance(trail, list) and trail else None
        return [str(latest.get("action") if isinstance(latest, dict) else values["decision"])]
    if not messages or not isinstance(trail, list):
        return []
    answered = {_field(message, "tool_call_id") for message in messages}
    calls = _field(messages[-1], "tool_calls") or []
    approved = {
        entry.get("call_id"): entry.get("action")
        for entry in trail
        if isinstance(entry, dict) and entry.get("decision") in APPROVALS
    }
    return [
        str(approved[call["id"]])
        for call in calls
        if isinstance(call, dict) and call.get("id") in approved and call["id"] not in answered
    ]


def _field(message: Any, name: str) -> Any:
    """A field of a message in either form: the server's JSON, or a langchain message."""
    return message.get(name) if isinstance(message, dict) else getattr(message, name, None)


def run_tool_calls(
    calls: list[ToolCall],
    sensitive: Container[str],
    by_name: dict[str, BaseTool],
    trail: list[AuditEntry],
) -> tuple[list[ToolCall], list[ToolMessage]]:
    """Run a turn's calls: safe ones as they are, sensitive ones as their signed decisions on
    the verified `trail` say. Returns the calls as run (edits applied) and one result each."""
    problem = trail_problem(trail)
    decided = {entry["call_id"]: entry for entry in trail if "call_id" in entry}
    raised: dict[str | None, AuditEntry] = {}
    for earliest in trail:
        raised.setdefault(earliest.get("call_id"), earliest)
    as_run, results = [], []
    for call in calls:
        entry = decided.get(call["id"] or "") if call["name"] in sensitive else None
        if call["name"] not in sensitive:
            results.append(_invoke(call, by_name))
        elif problem is not None:
            results.append(_error(call, f"Refused: the audit trail does not verify ({problem})."))
        elif entry is None or raised[call["id"]]["args_before"] != call["args"]:
            results.append(_error(call, "Refused: no signed decision on these arguments."))
        elif entry["decision"] in APPROVALS and not quorum_met(trail, entry):
            results.append(_error(call, "Refused: its approvals do not make the quorum it needs."))
        else:
            call, result = _as_decided(call, entry, by_name)
            results.append(result)
        as_run.append(call)
    return as_run, results


def _as_decided(
    call: ToolCall, entry: AuditEntry, by_name: dict[str, BaseTool]
) -> tuple[ToolCall, ToolMessage]:
    """Run (or not) one sensitive call as its signed `entry` decided."""
    decision, reviewer, comment = entry["decision"], entry["reviewer"], entry["comment"]
    if decision == "reject":
        return call, _error(call, f"{reviewer} rejected this call: {comment or 'no reason given'}")
    if decision == WITHDRAW:
        return call, _error(call, f"{reviewer} withdrew this request: {comment or 'no reason'}")
    if decision == "respond":
        return call, ToolMessage(content=comment or "", name=call["name"], tool_call_id=call["id"])
    call = ToolCall(**{**call, "args": entry["args_after"] or {}})
    return call, _invoke(call, by_name)


def _invoke(call: ToolCall, by_name: dict[str, BaseTool]) -> ToolMessage:
    """Run one call and return the model-facing result; a failure becomes an error result."""
    tool = by_name.get(call["name"])
    if tool is None:
        return _error(
            call, f"Unknown tool {call['name']!r}; available: {', '.join(sorted(by_name))}."
        )
    try:
        return tool.invoke({**call, "type": "tool_call"})
    except ToolException as error:
        return _error(call, str(error))
    except Exception as error:  # noqa: BLE001 - any tool failure goes back to the model
        return _error(call, f"{type(error).__name__}: {error}")


def _error(call: ToolCall, text: str) -> ToolMessage:
    return ToolMessage(content=text, name=call["name"], tool_call_id=call["id"], status="error")
