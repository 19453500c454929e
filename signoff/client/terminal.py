"""What every `signoff` command writes to a terminal: one rich console, JSON for scripts, and
the sign-in hint a command without a token prints."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

console = Console()

SIGN_IN = "Sign in: set SIGNOFF_TOKEN (or --token) to a user token of the server."
"""What a command that needs the server says when it has no token."""


def print_json(value: Any) -> None:
    """`value` as indented JSON on standard output (what `--json` prints)."""
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
