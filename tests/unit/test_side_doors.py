"""The side doors of the run API stay shut: a stateful property test, in process.

Several users take random turns on random threads of `approve_reject`,
`multi_stage_approval` and `edit_state` through `LocalServer`, which admits every call with
the server's own rules: start, answer (rightly or not), withdraw, send new input, continue,
run with another assistant or graph, stop a run between its approval and its execution
(a cancellation), run statelessly, edit state (garbage included), copy, and sweep. After every
turn:

- nothing was executed without a verified approval of exactly the arguments run, by people
  the policy allows (never the requester), for every stage of the chain as it was raised;
- no pending request left the pending set without an audited decision, withdrawal or expiry
  (or an admin's audited state edit);
- a request still pending kept the policy it was raised with (deciders, escalation, expiry);
- every list, stat and metric still answers, for every user.

The example count is `SIGNOFF_PROPERTY_EXAMPLES` (`tests/property_settings.py`).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
)

from signoff.client.pending_requests import approval_stats, every_pending_request
from signoff.client.sweeper import sweep
from signoff.execution.approved import APPROVALS, stages_as_raised
from signoff.execution.ledger import ledger_path
from signoff.governance.audit import trail_problem
from signoff.governance.deadlines import DeadlineOverrides
from signoff.governance.policy import deciders_for
from signoff.graphs import GRAPHS
from signoff.graphs.approve_reject import RiskPolicy
from signoff.graphs.multi_stage_approval import ApprovalChain
from signoff.server.admission import Refusal
from signoff.server.inbox.queue import Filters, list_page
from signoff.signals.metrics import exposition
from tests.dev_users import GROUPS, TOKENS, decider_for
from tests.in_process import dev_identity
from tests.local_server import Assistant, LocalClient, LocalServer
from tests.property_settings import EXAMPLES

USERS = sorted(TOKENS)  # alice, bob, carol, dave, erin
ASSISTANTS = [
    Assistant("payments", "approve_reject", RiskPolicy()),
    Assistant(
        "payments-escalating",
        "approve_reject",
        RiskPolicy(escalate_after_seconds=0.001, escalate_to="security"),
    ),
    Assistant("payments-expiring", "approve_reject", RiskPolicy(expire_after_seconds=0.001)),
    Assistant("releases", "multi_stage_approval", ApprovalChain()),
    Assistant("releases-one-stage", "multi_stage_approval", ApprovalChain(stages=["manager"])),
    Assistant("messages", "edit_state", DeadlineOverrides()),
]
PAYLOADS = {
    "approve_reject": [
        {"operation": {"amount": 5000, "target": "acct-9"}},
        {"operation": {"amount": 20, "target": "acct-1"}},  # low risk: auto-approved
    ],
    "multi_stage_approval": [{"action": {"name": "deploy", "args": {"env": "staging"}}}],
    "edit_state": [{"brief": {"to": ["ops@example.com"], "topic": "the outage", "details": "x"}}],
}
OUT_OF_BOUNDS = [
    {"action": {"name": "deploy", "args": json.loads("[" * 246 + "]" * 246)}},
    {"operation": {"amount": 5000, "target": "x" * 70_000}},
]
ANSWERS = st.sampled_from(
    ["approve", "reject", "withdraw", {"type": "withdraw", "message": "never mind"}, "maybe"]
)
EDITS = st.sampled_from(
    [
        ({"action": {"name": "deploy", "args": {"env": "production"}, "description": ""}}, None),
        ({"stages": ["manager"]}, None),
        (
            {
                "operation": {
                    "kind": "payment",
                    "amount": 9_000_000,
                    "target": "acct-x",
                    "currency": "USD",
                    "description": "",
                }
            },
            None,
        ),
        (
            {
                "policy": {
                    "rule": "approve_reject",
                    "decided_by": ["users"],
                    "remind_after": None,
                    "escalate_after": None,
                    "escalate_to": None,
                    "expire_after": None,
                }
            },
            None,
        ),
        ({"audit": "not entries"}, None),
        ({"audit": [1, 2, 3]}, None),
        (
            {"action": {"name": "deploy", "args": {"env": "production"}, "description": ""}},
            "plan_chain",
        ),
        ({"stages": ["manager"]}, "plan_chain"),
        ({}, "execute"),
        ({"decision": "approve", "status": None}, "review"),
    ]
)
Edit = tuple[dict[str, Any], str | None]
"""State values to write, and the node to write them as."""
GOTOS = st.sampled_from(["review", "review_stage", "execute", "review_draft", "send"])


class SideDoors(RuleBasedStateMachine):
    """Random turns of several users on the run API; the invariants after every turn."""

    threads = Bundle("threads")

    def __init__(self) -> None:
        super().__init__()
        graphs = {name: GRAPHS[name]() for name in PAYLOADS}
        self.server = LocalServer(graphs, ASSISTANTS)
        self.client = LocalClient(self.server)
        self.requester: dict[str, str] = {}
        self.pending: dict[tuple[str, str], dict[str, Any]] = {}
        self.ledger = ledger_path()
        self.ledger_read = self.ledger.stat().st_size if self.ledger.exists() else 0
        self.edited: set[str] = set()
        """Threads an admin edited (update_state, command.update) since the last turn."""
        self.widened: set[str] = set()
        """Threads whose policy an admin rewrote: who may decide them is the admin's say."""
        self.copies: set[str] = set()
        """Threads an admin copied: their requests carry the original's ids until re-raised."""
        self.refusals: Counter[int] = Counter()

    def attempt(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        """Make a call as a client does; a refusal must be a clear 4xx."""
        try:
            return call(*args, **kwargs)
        except Refusal as refusal:
            assert 400 <= refusal.status < 500 and refusal.detail, refusal
            self.refusals[refusal.status] += 1
            return None

    # The turns.

    @rule(
        target=threads,
        user=st.sampled_from(USERS),
        assistant=st.sampled_from(ASSISTANTS),
        choice=st.integers(0, 1),
    )
    def start(self, user: str, assistant: Assistant, choice: int) -> str:
        """A user starts a thread of an assistant on a payload."""
        identity = dev_identity(user)
        thread_id = self.server.create_thread(identity)
        payloads = PAYLOADS[assistant.graph]
        if (
            self.attempt(
                self.server.run,
                identity,
                thread_id,
                assistant.assistant_id,
                input=payloads[choice % len(payloads)],
            )
            is not None
        ):
            self.requester[thread_id] = identity.user
        return thread_id

    @rule(thread=threads, user=st.sampled_from(USERS), answer=ANSWERS, by_reference=st.booleans())
    def answer(self, thread: str, user: str, answer: Any, by_reference: bool) -> None:
        """A user answers the thread's pending request (or what they think is pending)."""
        self._answer(thread, user, self._assistant_of(thread), answer, by_reference)

    @rule(thread=threads, approve=st.booleans())
    def decide(self, thread: str, approve: bool) -> None:
        """Someone the policy allows decides the thread's pending request."""
        facts = self.server.facts(thread)
        if facts is None or not facts.pending:
            return
        try:
            user = decider_for(next(iter(facts.pending.values())))
        except LookupError:  # e.g. the requester is the only development user of the group
            return
        self._answer(
            thread, user, self._assistant_of(thread), "approve" if approve else "no", False
        )

    @rule(thread=threads, edit=EDITS)
    def admin_edits_then_runs_on(self, thread: str, edit: Edit) -> None:
        """An admin edits the state (audited), then runs the thread on without input."""
        self.update_state(thread, "erin", edit)
        self.attempt(
            self.server.run, dev_identity("erin"), thread, self._assistant_of(thread), input=None
        )

    @rule(
        thread=threads,
        user=st.sampled_from(USERS),
        assistant=st.sampled_from(ASSISTANTS),
        answer=ANSWERS,
    )
    def answer_with_another_assistant(
        self, thread: str, user: str, assistant: Assistant, answer: Any
    ) -> None:
        """A user answers through another assistant or graph."""
        self._answer(thread, user, assistant.assistant_id, answer, False)

    @rule(thread=threads, user=st.sampled_from(USERS), assistant=st.sampled_from(ASSISTANTS))
    def continue_with_any_assistant(self, thread: str, user: str, assistant: Assistant) -> None:
        """A user runs the thread on without input, with any assistant."""
        self.attempt(
            self.server.run, dev_identity(user), thread, assistant.assistant_id, input=None
        )

    @rule(
        thread=threads,
        user=st.sampled_from(USERS),
        assistant=st.sampled_from(ASSISTANTS),
        out_of_bounds=st.booleans(),
    )
    def new_input(self, thread: str, user: str, assistant: Assistant, out_of_bounds: bool) -> None:
        """A user sends new input (in bounds or not) with any assistant."""
        payload = OUT_OF_BOUNDS[0] if out_of_bounds else PAYLOADS[assistant.graph][0]
        identity = dev_identity(user)
        if (
            self.attempt(self.server.run, identity, thread, assistant.assistant_id, input=payload)
            is not None
        ):
            self.requester[thread] = identity.user

    @rule(thread=threads, user=st.sampled_from(USERS), server_cancels=st.booleans())
    def approve_and_stop_before_it_runs(self, thread: str, user: str, server_cancels: bool) -> None:
        """An answer whose run stops after the approval, before the execution: cancelled
        there (by the server), or asking the server to pause there (`interrupt_before`)."""
        stop = (
            {"stop_before": ["execute", "send"]}
            if server_cancels
            else {"interrupt_before": ["execute"]}
        )
        answer = {"resume": "approve"}
        self.attempt(
            self.server.run,
            dev_identity(user),
            thread,
            self._assistant_of(thread),
            command=answer,
            **stop,
        )

    @rule(
        user=st.sampled_from(USERS),
        assistant=st.sampled_from(ASSISTANTS),
        out_of_bounds=st.integers(0, 2),
    )
    def stateless(self, user: str, assistant: Assistant, out_of_bounds: int) -> None:
        """A stateless run, which would delete its thread when it ends."""
        payload = (PAYLOADS[assistant.graph] + OUT_OF_BOUNDS)[out_of_bounds % 3]
        result = self.attempt(
            self.server.run,
            dev_identity(user),
            None,
            assistant.assistant_id,
            input=payload,
            temporary=True,
        )
        assert result is None, "a stateless run was admitted"

    @rule(thread=threads, user=st.sampled_from(USERS), edit=EDITS)
    def update_state(self, thread: str, user: str, edit: Edit) -> None:
        """A user edits the thread's state (only admins may; garbage included)."""
        values, as_node = edit
        facts = self.server.facts(thread)
        if facts is None or not facts.started:
            return
        graph = facts.graph_id
        keys_of_graph = self.server.graphs[str(graph)].builder.channels
        if not set(values) <= set(keys_of_graph) or (
            as_node and as_node not in self.server.graphs[str(graph)].nodes
        ):
            return
        before = self.server.facts(thread)
        self.attempt(self.server.update_state, dev_identity(user), thread, values, as_node)
        if before is not None and self.server.facts(thread) != before:
            self.edited.add(thread)
            self.widened |= {thread} if {"policy", "policies"} & set(values) else set()

    @rule(thread=threads, user=st.sampled_from(USERS), edit=EDITS, goto=GOTOS)
    def command_update_and_goto(self, thread: str, user: str, edit: Edit, goto: str) -> None:
        """A user runs the thread with a command that writes state and picks the next node."""
        facts = self.server.facts(thread)
        if facts is None or goto not in self.server.graphs[str(facts.graph_id)].nodes:
            return
        values = {k: v for k, v in edit[0].items() if k != "audit"}
        if (
            self.attempt(
                self.server.run,
                dev_identity(user),
                thread,
                self._assistant_of(thread),
                command={"update": values, "goto": goto},
            )
            is not None
        ):
            self.edited.add(thread)

    @rule(target=threads, thread=threads, user=st.sampled_from(USERS))
    def copy(self, thread: str, user: str) -> str:
        """A user copies the thread (only admins may)."""
        copied = self.attempt(self.server.copy, dev_identity(user), thread)
        if copied is not None:
            self.requester[copied] = self.requester.get(thread, "")
            self.widened |= {copied} if thread in self.widened else set()
            self.copies.add(copied)
        return copied or thread

    @rule()
    def sweep(self) -> None:
        """The sweeper passes: expiries, reminders, threads run on."""
        asyncio.run(sweep(self.client))  # type: ignore[arg-type]

    @rule(thread=consumes(threads), user=st.sampled_from(USERS))
    def read(self, thread: str, user: str) -> None:
        """A user reads the thread (only who may see it)."""
        self.attempt(self.server.get_state, dev_identity(user), thread)

    # What holds after every turn.

    @invariant()
    def nothing_ran_without_a_verified_approval_of_exactly_its_arguments(self) -> None:
        """Each execution since the last turn ran on a verified approval of exactly its args."""
        for entry in self._new_executions():
            facts = self.server.facts(str(entry["thread_id"]))
            assert facts is not None and isinstance(facts.values, dict)
            trail = facts.values.get("audit") or []
            assert trail_problem(trail, entry["thread_id"]) is None, trail
            requester = self.requester.get(str(entry["thread_id"]))
            for stage, approval in self._approvals(facts, entry).items():
                assert approval["args_after"] == entry["details"], (stage, approval, entry)
                assert approval["reviewer"] != requester, ("four-eyes", approval)
                if entry["thread_id"] not in self.widened:
                    assert _may_have_decided(approval, stage, facts.graph_id), approval

    @invariant()
    def no_pending_request_vanished_unaudited_and_none_changed_its_policy(self) -> None:
        """Pending requests leave only by an audited answer, and keep their policy while pending."""
        now: dict[tuple[str, str], dict[str, Any]] = {}
        for thread_id in list(self.server.threads):
            facts = self.server.facts(thread_id)
            assert facts is not None
            for request in facts.pending.values():
                now[(thread_id, request["request_id"])] = request
        for (thread_id, request_id), request in self.pending.items():
            if (thread_id, request_id) in now:
                kept = now[(thread_id, request_id)]
                for term in ("decided_by", "escalate_to", "expires_at", "args_digest"):
                    assert kept.get(term) == request.get(term), (term, request, kept)
                continue
            if {thread_id} & (self.edited | self.copies) or thread_id not in self.server.threads:
                continue
            facts = self.server.facts(thread_id)
            assert facts is not None
            trail = facts.values.get("audit") or [] if isinstance(facts.values, dict) else []
            assert any(e.get("request_id") == request_id for e in trail), (request, trail)
        self.pending = now
        self.edited.clear()

    @invariant()
    def every_list_stat_and_metric_answers(self) -> None:
        """The readers every view is built from answer, for every user."""
        pending = asyncio.run(every_pending_request(self.client))  # type: ignore[arg-type]
        asyncio.run(approval_stats(self.client))  # type: ignore[arg-type]
        exposition(pending)
        for user in USERS:
            list_page(pending, dev_identity(user), Filters())

    def teardown(self) -> None:
        """Every refusal was a clear 4xx."""
        assert set(self.refusals) <= {400, 403, 404, 409, 422}, self.refusals

    # Helpers.

    def _answer(
        self, thread: str, user: str, assistant: str, answer: Any, by_reference: bool
    ) -> None:
        facts = self.server.facts(thread)
        if by_reference and facts is not None and facts.pending:
            request = next(iter(facts.pending.values()))
            answer = {"decisions": [{"type": "approve"}], "request_id": request["request_id"]}
        self.attempt(
            self.server.run, dev_identity(user), thread, assistant, command={"resume": answer}
        )

    def _new_executions(self) -> list[dict[str, Any]]:
        """The ledger's entries written since the last call."""
        if not self.ledger.exists():
            return []
        with self.ledger.open(encoding="utf-8") as ledger:
            ledger.seek(self.ledger_read)
            lines = ledger.read()
        self.ledger_read += len(lines.encode())
        return [json.loads(line) for line in lines.splitlines() if line]

    def _assistant_of(self, thread: str) -> str:
        record = self.server.threads.get(thread)
        return str(record.metadata.get("assistant_id", "payments")) if record else "payments"

    def _approvals(self, facts: Any, entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Stage → the approval the execution `entry` ran on (the latest decision of each
        stage required, for a chain)."""
        trail = [e for e in facts.values.get("audit") or [] if isinstance(e, dict)]
        if facts.graph_id != "multi_stage_approval":
            latest = next(e for e in reversed(trail) if e.get("action") == entry["kind"])
            assert latest["decision"] in APPROVALS, latest
            return {latest["stage"]: latest}
        values = facts.values
        chain = {"id": values.get("chain_id", ""), "stages": values["stages"]}
        required = stages_as_raised(trail, chain)  # type: ignore[arg-type]
        decided = {e["stage"]: e for e in trail if (e.get("chain") or {}).get("id") == chain["id"]}
        assert set(required) <= set(decided), (required, decided)
        approvals = {stage: decided[stage] for stage in required}
        reviewers = [a["reviewer"] for a in approvals.values()]
        assert len(set(reviewers)) == len(reviewers), reviewers
        assert all(a["decision"] in APPROVALS for a in approvals.values()), approvals
        return approvals


def _may_have_decided(approval: dict[str, Any], stage: str, graph: str | None) -> bool:
    """Whether the reviewer of `approval` was one the policy lets decide it."""
    if approval["decision"] == "auto_approve":
        return approval["reviewer"] == "system" and approval["args_after"]["amount"] <= 1000
    rule = f"multi_stage_approval.{stage}" if graph == "multi_stage_approval" else str(graph)
    groups = set(deciders_for(rule))
    if approval.get("escalated_to"):
        groups.add(approval["escalated_to"])
    return bool(GROUPS.get(approval["reviewer"], set()) & groups)


SideDoors.TestCase.settings = settings(EXAMPLES, stateful_step_count=25)
test_side_doors = SideDoors.TestCase
