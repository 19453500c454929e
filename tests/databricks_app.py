"""Start and stop the signoff Databricks App (`signoff.apps.server`) locally with uvicorn.

It runs as Databricks Apps runs it (`deploy/apps/app.yaml`'s command), from the checkout, on
a free loopback port, with Agent Bricks' process-local Runtime Store; like a
`LanggraphServer`, whose port, log and stop it shares. `forwarded(name)` are the headers
Databricks Apps' ingress would set for development user `name` (its token and user name).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx

from tests.dev_users import TOKENS, user_name
from tests.langgraph_server import OFFLINE_ENV, REPO, LanggraphServer


def forwarded(name: str) -> dict[str, str]:
    """The headers Databricks Apps forwards for development user `name`."""
    return {"X-Forwarded-Access-Token": TOKENS[name], "X-Forwarded-Email": user_name(name)}


@dataclass
class RunningApp(LanggraphServer):
    """One `uvicorn --factory signoff.apps.server:build_app` process; its log is `server.log`
    in `workdir`."""

    def start(self, timeout: float = 60) -> RunningApp:
        """Launch the App and wait until its inbox answers (its lifespan has run)."""
        command = [sys.executable, "-m", "uvicorn", "--factory", "signoff.apps.server:build_app"]
        local = {"DATABRICKS_AGENTBRICKS_RUNTIME_STORE_LOCAL": "true"}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=REPO,
                env={**os.environ, **OFFLINE_ENV, **local, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/inbox/sign-in", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the App did not start:\n{self.log.read_text()[-3000:]}")
