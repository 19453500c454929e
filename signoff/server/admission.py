"""What the server admits: the rules every run, cancellation and thread creation must pass,
as pure functions of who asks, what they send and what the thread holds.

`signoff.server.auth` reads the facts (`ThreadFacts`, through the server itself) and raises the
`Refusal` these return before anything is written; the in-process property test of the run
API applies the same functions. The invariants they keep:

- **A pending request belongs to its thread's assistant and graph.** A run on a thread that
  has run uses that thread's graph, and a non-admin's uses its assistant too (409, naming it).
  While a request is pending, only an answer changes it: a decision by someone the policy
  allows, a withdrawal by its requester or an admin, or an expiry once it is due (the sweeper).
  New input and runs with neither input nor answer are 409; an answer to a thread that waits
  on nothing is 409 (it would approve, unseen, whatever is raised next). A request of a
  version this signoff cannot read (`signoff.protocol.versions`) is pending too: only an
  answer, from a signoff that reads it, changes it (anything else, even an admin's, is 409).
- **Every state write is audited.** `command.update`/`goto` would write state the audit trail
  does not record (and `goto` can start a second branch beside a pending one): refused from
  everyone (403), pointing to `update_state`, which the state API audits.
- **What enters is bounded** (`signoff.protocol.bounds`): input, answers, config and
  metadata; metadata keys the server keeps (`visibility.RESERVED_METADATA`, and a run's
  `graph_id`/`assistant_id`) are the server's alone (422).
- **Only who may see a thread may run on it** (`signoff.governance.visibility`): else 404.
- **A run is checked against what the thread waits on when it arrives.** A run on a thread
  with a run in flight is 409 (`multitask_strategy="enqueue"` would apply it later, to
  whatever is pending then).
- **Nothing approved is silently dropped.** New input on a thread whose last run stopped after
  an approval but before the execution is 409 until the thread is run on (without input) to
  finish it; stateless runs, which delete their thread and its signed trail when they end, are
  refused (422); only a run's starter or an admin cancels it.
- **Admins only** (403): runs from a checkpoint,
  run-time context or configurable, `interrupt_before`/`interrupt_after`, the multitask
  strategies that cancel a run in flight (`interrupt`, `rollback`), and copying threads (a copy
  of a pending request is a second request nobody raised).

Every refusal says what would be allowed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from signoff.execution.approved import approved_not_run
from signoff.governance.delegation import Delegation
from signoff.governance.identity import Identity
from signoff.governance.policy import admin_refusal, is_admin, resume_refusal
from signoff.governance.visibility import RESERVED_METADATA, may_see, not_visible, viewers_of
from signoff.protocol.bounds import OutOfBounds, check_bounds
from signoff.protocol.interrupts import approval_interrupts, version_refusals

RUN_METADATA_SET_BY_SERVER = (*RESERVED_METADATA, "graph_id", "assistant_id")
"""Metadata keys a run may not send: the server sets them on the thread it creates."""

CANCELLING_STRATEGIES = ("interrupt", "rollback")
"""Multitask strategies that cancel the run in flight on the thread."""

CHECKPOINT_KEYS = ("checkpoint_id", "checkpoint_ns", "checkpoint_map")
"""Configurable keys that run a thread from somewhere other than its latest checkpoint."""


@dataclass(frozen=True)
class Refusal(Exception):
    """A request the server does not admit: the HTTP status and what would be allowed."""

    status: int
    detail: str

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class ThreadFacts:
    """What the server holds of an existing thread when a request about it arrives."""

    thread_id: str
    metadata: Mapping[str, Any]
    """The thread record's metadata (`graph_id`, `assistant_id`, the visibility keys)."""
    started: bool
    """A run has checkpointed the thread: it is bound to its graph and assistant."""
    values: Any = None
    """The thread's state values (the server's JSON form)."""
    interrupts: list[dict[str, Any]] = field(default_factory=list)
    """The interrupts it waits on (`{"id", "value"}`)."""
    busy: bool = False
    """A run of it is in flight: what it waits on is about to change."""

    @property
    def pending(self) -> dict[str, dict[str, Any]]:
        """Interrupt id → approval request, for every request the thread waits on."""
        return {i["id"]: i["value"] for i in approval_interrupts(self.interrupts)}

    @property
    def graph_id(self) -> str | None:
        """The graph the thread runs."""
        return self.metadata.get("graph_id")

    @property
    def assistant_id(self) -> str | None:
        """The assistant that runs the thread: its context set the thread's requests."""
        return self.metadata.get("assistant_id")

    @property
    def viewers(self) -> frozenset[str]:
        """Who may see the thread (`signoff.governance.visibility`)."""
        return viewers_of(self.metadata, self.values, self.interrupts)


@dataclass(frozen=True)
class RunRequest:
    """A run as the server's auth sees it (`Auth.types.RunsCreate`), and its assistant's graph."""

    thread_id: str | None
    assistant_id: str
    graph_id: str
    kwargs: Mapping[str, Any]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    multitask_strategy: str | None = None

    @classmethod
    def of(cls, value: Mapping[str, Any], graph_id: str) -> RunRequest:
        """The run in the server's `create_run` value, whose assistant runs `graph_id`."""
        thread_id = value.get("thread_id")
        return cls(
            thread_id=None if thread_id is None else str(thread_id),
            assistant_id=str(value.get("assistant_id")),
            graph_id=graph_id,
            kwargs=value.get("kwargs") or {},
            metadata=value.get("metadata") or {},
            multitask_strategy=value.get("multitask_strategy"),
        )

    @property
    def command(self) -> Mapping[str, Any]:
        """The run's command (`resume`, `update`, `goto`), empty without one."""
        command = self.kwargs.get("command")
        return command if isinstance(command, Mapping) else {}

    @property
    def answering(self) -> bool:
        """Whether the run answers a pending request (`command.resume`)."""
        return "resume" in self.command

    @property
    def writing(self) -> bool:
        """Whether the run writes state or picks the next node (`command.update`/`goto`)."""
        return self.command.get("update") is not None or bool(self.command.get("goto"))

    @property
    def adding_input(self) -> bool:
        """Whether the run sends new input."""
        return self.kwargs.get("input") is not None

    @property
    def stateless(self) -> bool:
        """Whether the thread is deleted when the run ends (`runs.wait(None, ...)`)."""
        return bool(self.kwargs.get("temporary"))


def run_refusal(
    identity: Identity | None,
    run: RunRequest,
    thread: ThreadFacts | None,
    delegations: Sequence[Delegation] = (),
) -> Refusal | None:
    """Why the server does not admit `run` from `identity` on `thread` (`None`: a thread that
    does not exist yet), or `None` when it does; `delegations` may let `identity` answer on
    someone's behalf."""
    admin = is_admin(identity)
    if run.writing:
        return Refusal(
            403,
            "command.update and command.goto write state that the audit trail would not "
            "record, so the server takes them from nobody. An admin edits state with "
            "update_state (audited; as_node picks where the thread goes on from) and runs the "
            "thread on without input.",
        )
    if (doing := _admin_only_part(run)) and not admin:
        return Refusal(403, str(admin_refusal(identity, doing)))
    if problem := _malformed(run):
        return Refusal(422, problem)
    if run.stateless:
        return Refusal(
            422,
            "Stateless runs are refused: the server deletes their thread when they end, and "
            "with it the signed audit trail of what was approved and run. Create a thread "
            "(threads.create) and run on it, or send on_completion='keep'.",
        )
    if thread is None:
        return None
    if not may_see(identity, thread.viewers):
        return Refusal(404, not_visible(thread.thread_id, identity))
    if refusal := _unbound(run, thread, admin):
        return refusal
    if thread.busy:
        return Refusal(
            409,
            f"Thread {thread.thread_id} is running now, so what it waits on is about to "
            "change; nothing of this run was applied. Send it again when the run has finished "
            "(an answer is checked against what is pending when it arrives, never queued).",
        )
    if not run.answering and (unread := version_refusals(thread.interrupts)):
        return Refusal(409, _unread_pending(thread, unread))
    pending = thread.pending
    if run.answering:
        if not pending:
            return Refusal(409, _nothing_to_answer(thread))
        if not_theirs := resume_refusal(identity, pending, run.command["resume"], delegations):
            return Refusal(403, not_theirs)
        return None
    if pending and (run.adding_input or not admin):
        return Refusal(409, still_pending(pending, adding_input=run.adding_input))
    if run.adding_input and (left := approved_not_run(thread.values)):
        return Refusal(
            409,
            f"Thread {thread.thread_id} stopped after {', '.join(left)} was approved and "
            "before it ran. Run the thread on without input to finish it (it runs what was "
            "approved, once), then send new input.",
        )
    return None


def cancel_refusal(
    identity: Identity | None,
    action: str,
    thread_id: str | None,
    starters: Mapping[str, str | None] | None,
) -> Refusal | None:
    """Why `identity` may not cancel runs (`action` interrupt or rollback) of `thread_id`:
    `starters` maps each run id named to who started it (`None` when no run ids were
    named: a cancellation by status or by assistant, across threads)."""
    if is_admin(identity):
        return None
    if action == "rollback":
        return Refusal(
            403,
            str(admin_refusal(identity, "cancel runs with rollback (it deletes checkpoints)")),
        )
    who = identity.user if identity else "An unidentified caller"
    if thread_id is None or starters is None:
        return Refusal(
            403,
            f"{who} may cancel only runs they started, one thread at a time (thread id and run "
            "ids); cancelling by status or by assistant is for admins.",
        )
    for run_id, starter in starters.items():
        if identity is None or starter != identity.user:
            return Refusal(
                403,
                f"{who} may not cancel run {run_id}: it was started by {starter or 'nobody'}, "
                "and only its starter or an admin may cancel it.",
            )
    return None


def thread_create_refusal(
    identity: Identity | None, metadata: Any, copying: bool
) -> Refusal | None:
    """Why `identity` may not create a thread with `metadata` (or, `copying`, copy one)."""
    if copying:
        doing = "copy threads (a copy of a pending request is a second request nobody raised)"
        if refusal := admin_refusal(identity, doing):
            return Refusal(403, refusal)
        return None
    return _metadata_problem(metadata, RESERVED_METADATA, "thread metadata")


def still_pending(pending: Mapping[str, Mapping[str, Any]], adding_input: bool = True) -> str:
    """The 409 for a run that is not an answer on a thread waiting on `pending`."""
    requests = "; ".join(
        f"request {request.get('request_id')} (stage {request.get('stage')!r}: "
        f"{', '.join(str(a.get('name')) for a in request.get('action_requests') or [])}, "
        f"raised by {request.get('requested_by')})"
        for request in pending.values()
    )
    what = "new input" if adding_input else "runs that neither answer it nor send input"
    return (
        f"This thread waits on {requests}, so it takes no {what}. Answer it (command.resume), "
        'or withdraw it (its requester or an admin resumes with "withdraw"); then send new '
        "input."
    )


def _admin_only_part(run: RunRequest) -> str | None:
    """The admin-only thing `run` asks for, as a phrase for the refusal, or `None`."""
    kwargs = run.kwargs
    configurable = (kwargs.get("config") or {}).get("configurable") or {}
    if any(configurable.get(key) for key in CHECKPOINT_KEYS):
        return "run a thread from an earlier checkpoint"
    if kwargs.get("context"):
        return (
            "set run-time context or configurable (it overrides the assistant's thresholds, "
            "stages and endpoints; create an assistant for other settings)"
        )
    if kwargs.get("interrupt_before") or kwargs.get("interrupt_after"):
        return "pause runs with interrupt_before or interrupt_after (approvals pause by themselves)"
    if run.multitask_strategy in CANCELLING_STRATEGIES:
        return (
            f"send multitask_strategy={run.multitask_strategy!r}, which cancels the run in "
            "flight (send 'reject' or 'enqueue'; a run's starter may cancel it with runs.cancel)"
        )
    return None


def _malformed(run: RunRequest) -> str | None:
    """Why what `run` sends cannot be taken (out of bounds, or server-set metadata)."""
    config = run.kwargs.get("config") or {}
    parts = {
        "input": run.kwargs.get("input"),
        "answer": run.command.get("resume"),
        "context": run.kwargs.get("context"),
        # `configurable` also holds what the server adds (the signed-in user): not the client's
        "config": {key: value for key, value in config.items() if key != "configurable"},
        "run metadata": run.metadata,
    }
    for subject, part in parts.items():
        try:
            check_bounds(part, subject)
        except OutOfBounds as error:
            return str(error)
    for metadata in (run.metadata, config.get("metadata") or {}):
        if problem := _metadata_problem(metadata, RUN_METADATA_SET_BY_SERVER, "run metadata"):
            return problem.detail
    return None


def _metadata_problem(metadata: Any, reserved: tuple[str, ...], subject: str) -> Refusal | None:
    try:
        check_bounds(metadata, subject)
    except OutOfBounds as error:
        return Refusal(422, str(error))
    if isinstance(metadata, Mapping) and (taken := sorted(set(metadata) & set(reserved))):
        return Refusal(
            422,
            f"The {subject} sets {', '.join(taken)}, which only the server sets; send any "
            f"other keys.",
        )
    return None


def _unbound(run: RunRequest, thread: ThreadFacts, admin: bool) -> Refusal | None:
    """The 409 for a run with another graph or (for non-admins) another assistant than the
    thread's, once the thread has run."""
    if not thread.started:
        return None
    graph, assistant = thread.graph_id, thread.assistant_id
    if graph and run.graph_id != graph:
        return Refusal(
            409,
            f"Thread {thread.thread_id} runs graph {graph!r} (assistant {assistant}); a run of "
            f"graph {run.graph_id!r} cannot continue it. Run it with assistant {assistant}.",
        )
    if assistant and run.assistant_id != assistant and not admin:
        return Refusal(
            409,
            f"Thread {thread.thread_id} is run by assistant {assistant} (graph {graph!r}), whose "
            "context set the policy of its requests; runs on it use that assistant. Run it "
            f"with assistant_id {assistant}, or start a new thread for assistant "
            f"{run.assistant_id}.",
        )
    return None


def _unread_pending(thread: ThreadFacts, unread: list[str]) -> str:
    """The 409 for a run that is not an answer on a thread waiting on a request this signoff
    cannot read (of another version): the request stays pending as it is."""
    return (
        f"Thread {thread.thread_id} waits on a request this signoff cannot read, so it takes "
        f"no new input and no run that does not answer it: {' '.join(unread)} Answer it with "
        "a signoff that reads its version (command.resume there); then send new input."
    )


def _nothing_to_answer(thread: ThreadFacts) -> str:
    if unread := version_refusals(thread.interrupts):
        return " ".join(unread)
    return (
        f"Thread {thread.thread_id} waits on no request, so there is nothing to answer: an "
        "answer is taken only while its request is pending and shown. Read the thread "
        "(threads.get_state) to see what it waits on."
    )
