"""The `signoff` command line.

    signoff sweep [--url URL] [--token TOKEN]

`sweep` runs one pass of the sweeper (`signoff.sweeper`) against a LangGraph server and then
delivers the webhook events that pass queued, for deployments without a long-lived server
process (e.g. a scheduled Databricks job). The server is `--url` (`SIGNOFF_URL`, default
http://127.0.0.1:2024) and the caller signs in with `--token` (`SIGNOFF_TOKEN`): any user may
expire a request whose `expires_at` has passed, and nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from langgraph_sdk import get_client

from signoff.notify import deliver_due
from signoff.sweeper import SweepReport, sweep

DEFAULT_URL = "http://127.0.0.1:2024"


def main(argv: list[str] | None = None) -> int:
    """Run the command in `argv` (default: the process's arguments); the exit status."""
    parser = argparse.ArgumentParser(prog="signoff", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sweeping = commands.add_parser("sweep", help="remind, escalate and expire pending requests")
    sweeping.add_argument("--url", default=os.environ.get("SIGNOFF_URL", DEFAULT_URL))
    sweeping.add_argument("--token", default=os.environ.get("SIGNOFF_TOKEN"))
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("sign in with --token or SIGNOFF_TOKEN (a user token of the server)")
    report = asyncio.run(_sweep(args.url, args.token))
    delivered = deliver_due()
    print(
        f"expired {len(report.expired)}, escalated {len(report.escalated)}, reminded "
        f"{len(report.reminded)}, left busy {len(report.busy)}; webhooks: {delivered}"
    )
    return 0


async def _sweep(url: str, token: str) -> SweepReport:
    async with get_client(url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        return await sweep(client)


if __name__ == "__main__":
    sys.exit(main())
