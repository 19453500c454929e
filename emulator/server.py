"""Serve an emulator over HTTP with uvicorn: in a background thread, or in the foreground.

`start_emulator()` binds a loopback port (a free one by default), serves from a daemon thread
with its own event loop, waits until the server answers and returns a `RunningEmulator` with
`.url`, `.token` and `.stop()`. It works from sync code, from inside a running asyncio loop and
any number of times per process; each call has its own state and dataset.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from types import TracebackType

import uvicorn

from emulator.app import Emulator, EmulatorSettings
from emulator.genie import SPACE_ID, SPACE_TITLE
from emulator.identity import DEV_TOKEN

LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 10.0


@dataclass
class RunningEmulator:
    """An emulator being served; point `WorkspaceClient(host=url, token=token)` at it."""

    url: str
    token: str
    emulator: Emulator
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def stop(self) -> None:
        """Stop serving and remove the emulator's temporary data."""
        self._server.should_exit = True
        self._thread.join(timeout=STARTUP_TIMEOUT_SECONDS)
        self.emulator.close()

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket (so connections queue until uvicorn accepts them)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen()
    return sock


def _server(emulator: Emulator) -> uvicorn.Server:
    config = uvicorn.Config(
        emulator.app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    return uvicorn.Server(config)


def start_emulator(
    settings: EmulatorSettings | None = None, *, host: str = LOOPBACK, port: int = 0
) -> RunningEmulator:
    """Serve a new emulator from a background thread; returns once it answers HTTP."""
    emulator = Emulator(settings)
    sock = _bind(host, port)
    url = f"http://{host}:{sock.getsockname()[1]}"
    server = _server(emulator)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"signoff-emulator {url}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        try:
            with urllib.request.urlopen(f"{url}/.well-known/databricks-config", timeout=1):
                break
        except OSError:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                emulator.close()
                raise RuntimeError(f"The workspace emulator at {url} did not start.") from None
            time.sleep(0.02)
    return RunningEmulator(url, DEV_TOKEN, emulator, server, thread)


def serve_forever(settings: EmulatorSettings, *, host: str, port: int) -> None:
    """Serve an emulator in the foreground until interrupted, printing how to use it."""
    emulator = Emulator(settings)
    sock = _bind(host, port)
    url = f"http://{host}:{sock.getsockname()[1]}"
    jobs = ", ".join(f"{job.job_id} {job.name}" for job in emulator.jobs.jobs.values())
    print(
        "signoff local Databricks workspace emulator (offline development; its chat model "
        "is a rule-based development model, not an LLM)\n"
        f"host:      {url}\n"
        f"token:     {DEV_TOKEN} (the service identity; the dapi-dev-* users are in the README)\n"
        f"jobs:      {jobs}\n"
        f"genie:     space {SPACE_ID} ({SPACE_TITLE})\n"
        f"functions: {', '.join(emulator.functions.infos)}\n"
        f"chat:      {', '.join(settings.serving_endpoints)}\n"
        f"database:  {', '.join(settings.database_instances)}\n"
        f"dataset:   {emulator.dataset.path}\n\n"
        f"export DATABRICKS_HOST={url} DATABRICKS_TOKEN={DEV_TOKEN}",
        flush=True,
    )
    try:
        _server(emulator).run(sockets=[sock])
    finally:
        emulator.close()
