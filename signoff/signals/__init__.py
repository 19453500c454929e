"""What signoff tells the world: webhook deliveries, the events they carry, and metrics.

- `events`: the approval events (requested, reminded, escalated, decided, expired).
- `webhooks`: delivering them (JSON or Slack), signed and retried.
- `metrics`: Prometheus counters and gauges.
"""
