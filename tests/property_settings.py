"""How hard the property-based tests try: `SIGNOFF_PROPERTY_EXAMPLES` examples per property
(default 150; `make unit` runs 40)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = settings(
    max_examples=int(os.environ.get("SIGNOFF_PROPERTY_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
