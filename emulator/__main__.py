"""`python -m emulator`: run the local Databricks workspace emulator in the foreground.

Prints the host and token and a ready-to-paste `export DATABRICKS_HOST=... DATABRICKS_TOKEN=...`
line; Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from emulator.app import EmulatorSettings
from emulator.server import LOOPBACK, serve_forever

DEFAULT_PORT = 8700
DEFAULT_DATA_DIR = Path(".emulator")


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    defaults = EmulatorSettings()
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="Local Databricks workspace emulator for offline development "
        "(jobs, Genie, Unity Catalog functions, a rule-based chat model, Lakebase).",
    )
    parser.add_argument("--host", default=LOOPBACK, help="address to bind (default: %(default)s)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port, 0 for any free one (default: %(default)s)",
    )
    parser.add_argument(
        "--pending-seconds",
        type=float,
        default=defaults.pending_seconds,
        help="how long a new job run stays PENDING (default: %(default)s)",
    )
    parser.add_argument(
        "--running-seconds",
        type=float,
        default=defaults.running_seconds,
        help="how long a job run then stays RUNNING (default: %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="directory for the SQLite dataset, recreated at each start (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    settings = EmulatorSettings(
        pending_seconds=args.pending_seconds,
        running_seconds=args.running_seconds,
        data_dir=args.data_dir,
    )
    serve_forever(settings, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
