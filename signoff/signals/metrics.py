"""Prometheus metrics of the approvals, served at `/signoff/metrics` (text format).

- `signoff_pending_approvals{graph,stage}`: requests waiting now, read from the server's
  threads when scraped;
- `signoff_oldest_pending_age_seconds`: how long the oldest of them has waited;
- `signoff_decisions_total{graph,decision}`: answers accepted (approve, edit, reject, respond,
  withdraw; `expire` for expiries);
- `signoff_decision_latency_seconds{graph}`: a histogram from the pause to the decision;
- `signoff_expired_total{graph}`, `signoff_escalated_total{graph}`.

The counters and the histogram count in this process since it started, as Prometheus expects
(`rate()` over them); the review nodes and the sweeper of the server record them. The gauges
are computed at each scrape. Built on `prometheus-client`; nothing here writes the format.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from cachetools import TTLCache
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from signoff import clock
from signoff.clock import parse, seconds_since

REGISTRY = CollectorRegistry()
WEEK_SECONDS = 7 * 86400

DECISIONS = Counter(
    "signoff_decisions",
    "Answers accepted by review nodes, by graph and decision (expire: an expiry).",
    ["graph", "decision"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "signoff_decision_latency_seconds",
    "Seconds from a request's pause to its decision or expiry.",
    ["graph"],
    buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 3 * 86400, 7 * 86400),
    registry=REGISTRY,
)
EXPIRED = Counter("signoff_expired", "Requests expired, by graph.", ["graph"], registry=REGISTRY)
ESCALATED = Counter(
    "signoff_escalated", "Requests escalated, by graph.", ["graph"], registry=REGISTRY
)
PENDING = Gauge(
    "signoff_pending_approvals",
    "Requests waiting for a decision now, by graph and stage.",
    ["graph", "stage"],
    registry=REGISTRY,
)
OLDEST = Gauge(
    "signoff_oldest_pending_age_seconds",
    "Seconds the oldest waiting request has waited (0 when none waits).",
    registry=REGISTRY,
)
_counted_escalations: TTLCache[str, bool] = TTLCache(maxsize=100_000, ttl=WEEK_SECONDS)


def record_decision(graph: str, decision: str, created_at: str | None) -> None:
    """Count one accepted answer (or expiry, `decision="expire"`) and its latency."""
    DECISIONS.labels(graph=graph, decision=decision).inc()
    if (waited := seconds_since(created_at)) is not None:
        LATENCY.labels(graph=graph).observe(max(waited, 0.0))
    if decision == "expire":
        EXPIRED.labels(graph=graph).inc()


def record_escalation(graph: str, request_id: str) -> None:
    """Count an escalation once, however many sweeps see it."""
    if request_id not in _counted_escalations:
        _counted_escalations[request_id] = True
        ESCALATED.labels(graph=graph).inc()


class Waiting(Protocol):
    """What the gauges read of a waiting request (a `signoff.client.pending_requests`
    `PendingRequest` has it)."""

    @property
    def graph(self) -> str:
        """The graph that raised it."""

    @property
    def stage(self) -> str:
        """Its stage of a chain, or the review it is."""

    @property
    def created_at(self) -> str | None:
        """When it was raised."""


def exposition(pending: Iterable[Waiting]) -> bytes:
    """The metrics in Prometheus text format, the gauges set from `pending` (every request
    waiting now, as `signoff.client.pending_requests` reads them)."""
    counts: dict[tuple[str, str], int] = {}
    oldest: datetime | None = None
    for request in pending:
        key = (request.graph, request.stage)
        counts[key] = counts.get(key, 0) + 1
        if (moment := parse(request.created_at)) is not None:
            oldest = moment if oldest is None else min(oldest, moment)
    PENDING.clear()
    for (graph, stage), count in counts.items():
        PENDING.labels(graph=graph, stage=stage).set(count)
    OLDEST.set((clock.now() - oldest).total_seconds() if oldest else 0)
    return generate_latest(REGISTRY)
