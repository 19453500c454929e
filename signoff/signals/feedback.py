"""Decisions as MLflow feedback: each answer a person gives, a label on the MLflow trace of
the run that raised its request.

With `SIGNOFF_MLFLOW_FEEDBACK=on`, a request raised while MLflow traces the run keeps that
trace's id in its policy (`raising_trace`, called by `signoff.review.ask.raise_policy`, in the
run that raises it: the answer comes in a later run, with a trace of its own), and the review
node logs the answer there when it accepts it (`log_decisions`), one label per action:

- feedback `signoff_decision`: `approve`, `edit`, `reject`, `respond` or `withdraw`, the
  reviewer as its `HUMAN` source, their message as its rationale, and where it came from as
  metadata (`signoff.request_id`, `signoff.action_index`, `signoff.thread_id`,
  `signoff.graph`, `signoff.stage`, `signoff.action`, and `signoff.on_behalf_of` for a
  delegate);
- for an edit, also an expectation `signoff_edited_args`: the action, the arguments shown,
  the arguments as edited, and the names that changed.

Each vote of a quorum is a label of its own. Expiries and what the policy answers without a
person (auto-approvals, denials, standing grants) are nobody's decision, and are not logged.

Logging never breaks or holds up a decision: it runs on a background thread, and a failure
there (MLflow unreachable, the trace not found) is a warning. An answer is logged once: only
when the node accepts it (replays of the node before that re-read earlier answers, which were
refused), and a node that accepts it again (it re-ran after a crash, before its result was
saved) finds the labels on the trace already and logs nothing more. Labels still queued when
the process ends are lost: they are labels, not the record (the audit trail is).

Nothing here loads MLflow for a graph that MLflow does not trace: with nothing traced, raising
a request costs a look at `sys.modules` and deciding one a look at its policy.
`trace_graph_runs()` turns tracing on for every graph run of a process (the LangGraph server
calls it as it starts); Model Serving's `ResponsesAgent` is traced by MLflow itself. Labels go
to MLflow's tracking URI (`MLFLOW_TRACKING_URI`): it must be where the traces went (on Model
Serving, `databricks`, where MLflow sends an endpoint's traces when it has an experiment).
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from signoff.protocol.shapes import ApprovalRequest, Decision
from signoff.settings import environment

log = logging.getLogger("signoff.feedback")

SWITCH = "SIGNOFF_MLFLOW_FEEDBACK"
FEEDBACK = "signoff_decision"
"""The name of the feedback each decision is logged as; its value is the decision's type."""
EXPECTATION = "signoff_edited_args"
"""The name of the expectation an edit is logged as besides its feedback."""
QUEUED = 1000
"""The most decisions waiting to be logged; past that, new ones are dropped with a warning."""


def feedback_on() -> bool:
    """Whether decisions are logged as MLflow feedback (`SIGNOFF_MLFLOW_FEEDBACK=on`); a value
    other than `on`, `off` or empty is a `ValueError` naming them."""
    value = environment().mlflow_feedback.strip().lower()
    if value not in ("", "on", "off"):
        raise ValueError(
            f"{SWITCH}={value!r}: use `on` to log decisions as MLflow feedback, or `off`."
        )
    return value == "on"


def trace_graph_runs() -> bool:
    """When feedback is on, trace every graph run of this process with MLflow (LangChain
    autologging, its tracer inline so that each node of an asyncio run sees its run's trace);
    whether it did. Call it once, before the first run."""
    if not feedback_on():
        return False
    import mlflow.langchain
    import mlflow.tracing

    mlflow.langchain.autolog(run_tracer_inline=True, silent=True)
    mlflow.tracing.enable()  # set up now the store and exporter the first run would block on
    return True


def raising_trace() -> str | None:
    """The id of the MLflow trace of the running graph run, for the request it is raising;
    `None` when feedback is off or nothing traces the run. Never raises."""
    if "mlflow" not in sys.modules:  # nothing traces without it: do not load it
        return None
    try:
        if not feedback_on():
            return None
        import mlflow

        return mlflow.get_active_trace_id()
    except Exception:  # noqa: BLE001 - a label is never worth a request
        log.warning("Could not read the MLflow trace of the run raising a request", exc_info=True)
        return None


@dataclass(frozen=True)
class Label:
    """One assessment to log on a trace: the feedback of a decision, or an edit's expectation."""

    kind: Literal["feedback", "expectation"]
    name: str
    value: Any
    reviewer: str
    rationale: str | None
    metadata: dict[str, str]

    @property
    def key(self) -> tuple[str, str | None, str | None]:
        """What tells this label apart on its trace: its name, request and action."""
        return _key(self.name, self.metadata)


@dataclass(frozen=True)
class Decided:
    """Who decided a request, and where: what each label of their decision names."""

    reviewer: str
    thread_id: str
    graph: str
    on_behalf_of: str | None = None
    """Whose right to decide the reviewer used (delegation)."""


def decision_labels(
    request: ApprovalRequest, decisions: Sequence[Decision], decided: Decided
) -> list[Label]:
    """The labels of `decisions`, one per action of `request` in order, as `decided`."""
    labels, reviewer = [], decided.reviewer
    for index, (action, decision) in enumerate(
        zip(request["action_requests"], decisions, strict=True)
    ):
        where = {
            "signoff.request_id": request["request_id"],
            "signoff.action_index": str(index),
            "signoff.thread_id": decided.thread_id,
            "signoff.graph": decided.graph,
            "signoff.stage": request["stage"],
            "signoff.action": action["name"],
            "signoff.on_behalf_of": decided.on_behalf_of,
        }
        metadata = {key: value for key, value in where.items() if value}  # what is known
        message = decision.get("message")
        reason = message if isinstance(message, str) and message else None
        labels.append(Label("feedback", FEEDBACK, decision["type"], reviewer, reason, metadata))
        if decision["type"] == "edit":
            shown, edited = action["args"], decision["args"]
            changed = sorted(
                name
                for name in shown.keys() | edited.keys()
                if name not in shown or name not in edited or shown[name] != edited[name]
            )
            value = {"action": action["name"], "shown": shown, "edited": edited, "changed": changed}
            labels.append(Label("expectation", EXPECTATION, value, reviewer, None, metadata))
    return labels


def log_decisions(
    trace_id: str | None, request: ApprovalRequest, decisions: Sequence[Decision], decided: Decided
) -> None:
    """Log `decisions` on the trace `trace_id` of the run that raised `request` (`None`: it
    was not traced), in the background, when feedback is on. Never raises, never waits."""
    if trace_id is None:
        return
    try:
        if not feedback_on():
            return
        _SENDER.send(trace_id, decision_labels(request, decisions, decided))
    except Exception:  # noqa: BLE001 - a label is never worth a decision
        log.warning("Could not log a decision as MLflow feedback", exc_info=True)


def flush() -> None:
    """Wait until every decision queued so far is logged, or has failed (a process about to
    exit, tests)."""
    _SENDER.jobs.join()


class _Sender:
    """One daemon thread logging labels in the order queued; a full queue drops new labels
    (with a warning) rather than make a decision wait."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[tuple[str, list[Label]]] = queue.Queue(QUEUED)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def send(self, trace_id: str, labels: list[Label]) -> None:
        """Queue `labels` for trace `trace_id`, starting the thread if it is not running."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="signoff-feedback", daemon=True
                )
                self._thread.start()
        try:
            self.jobs.put_nowait((trace_id, labels))
        except queue.Full:
            log.warning(
                "%d decisions already wait to be logged as MLflow feedback: a decision on "
                "trace %s is not logged",
                QUEUED,
                trace_id,
            )

    def _run(self) -> None:
        while True:
            trace_id, labels = self.jobs.get()
            try:
                _log_labels(trace_id, labels)
            except Exception:  # noqa: BLE001 - the next label may well succeed
                log.warning(
                    "Could not log a decision as MLflow feedback on trace %s",
                    trace_id,
                    exc_info=True,
                )
            finally:
                self.jobs.task_done()


_SENDER = _Sender()


def _log_labels(trace_id: str, labels: list[Label]) -> None:
    """Log each of `labels` on trace `trace_id` that the trace does not have yet."""
    import mlflow
    from mlflow.entities import AssessmentSource, AssessmentSourceType, Expectation, Feedback

    mlflow.flush_trace_async_logging()  # the raising run's trace may still be on its way
    trace = mlflow.get_trace(trace_id)  # None, with MLflow's warning saying why, if it cannot
    if trace is None:
        log.warning(
            "Decision not logged as MLflow feedback: trace %s could not be read from %s",
            trace_id,
            mlflow.get_tracking_uri(),
        )
        return
    logged = {_key(assessment.name, assessment.metadata) for assessment in trace.info.assessments}
    for label in labels:
        if label.key in logged:
            continue
        source = AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id=label.reviewer)
        name, value, metadata = label.name, label.value, label.metadata
        assessment = (
            Expectation(name, value, source, metadata=metadata)
            if label.kind == "expectation"
            else Feedback(name, value, source=source, rationale=label.rationale, metadata=metadata)
        )
        mlflow.log_assessment(trace_id, assessment)


def _key(name: str, metadata: Mapping[str, str] | None) -> tuple[str, str | None, str | None]:
    """A label's identity on its trace: its name, and the request and action it labels."""
    metadata = metadata or {}
    return name, metadata.get("signoff.request_id"), metadata.get("signoff.action_index")
