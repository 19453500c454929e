"""Start and stop a real `langgraph dev` server from a private copy of the repository.

Each server gets a free loopback port, its own copy of the project (so `.langgraph_api/` is
never shared between runs), its own ledger file, and is stopped by its process-group id.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
_COPIED = ("graphs", "signoff", "tools", "langgraph.json", "pyproject.toml", "signoff.toml")
OFFLINE_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def copy_project(destination: Path) -> Path:
    """Copy the files `langgraph dev` serves into `destination` and return it."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in _COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(
                source, destination / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(source, destination / name)
    return destination


@dataclass
class LanggraphServer:
    """One `langgraph dev --no-browser --no-reload` process serving a copy of the project."""

    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ledger(self) -> Path:
        """The ledger file the server's graphs execute into."""
        return self.workdir / "ledger.jsonl"

    @property
    def log(self) -> Path:
        """The server's combined stdout and stderr."""
        return self.workdir / "server.log"

    def start(self, timeout: float = 90) -> LanggraphServer:
        """Launch the server and wait until `GET /ok` answers."""
        command = [
            str(Path(sys.executable).with_name("langgraph")),
            "dev",
            "--no-browser",
            "--no-reload",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        environment = {**os.environ, **OFFLINE_ENV, "SIGNOFF_LEDGER": str(self.ledger), **self.env}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"langgraph dev exited early:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/ok", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(
            f"langgraph dev not ready in {timeout}s:\n{self.log.read_text()[-3000:]}"
        )

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> None:
        """Signal the server's process group and wait for it to exit (SIGKILL if it lingers)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)
