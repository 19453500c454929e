"""One Model Serving replica, as a separate process: `python tests/serving_worker.py GRAPH
REQUEST_JSON` runs one request through `SignoffAgent` and prints the response as JSON.

The checkpointer, workspace and ledger come from the environment, as in Model Serving. A
refused request (`ValueError`, as Model Serving answers it) prints `{"error": ...}` and exits 3.

With `SIGNOFF_TEST_STALL_AFTER=ledger` or `=refund`, the replica stops dead right after that
side effect has happened, before the graph can checkpoint it: it writes the path in
`SIGNOFF_TEST_STALL_MARKER` and sleeps until the test kills it, as a crash would.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from signoff.graphs import GRAPHS
from signoff.serving import SignoffAgent
from tests.model_serving_caller import caller_for, calling_as, serving_environment, text_of


def stall_after(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function`, followed by a stall that only a kill ends."""

    @functools.wraps(function)
    def stalled(*args: Any, **kwargs: Any) -> Any:
        function(*args, **kwargs)
        Path(os.environ["SIGNOFF_TEST_STALL_MARKER"]).write_text("side effect done")
        while True:
            time.sleep(60)

    return stalled


def install_stall(effect: str) -> None:
    """Make the named side effect stall its replica once it has happened."""
    if effect == "ledger":
        from signoff.execution import ledger

        ledger.execute = stall_after(ledger.execute)
    elif effect == "refund":
        from unitycatalog.ai.core.databricks import DatabricksFunctionClient

        client = DatabricksFunctionClient
        client.execute_function = stall_after(client.execute_function)
    else:
        raise SystemExit(f"unknown SIGNOFF_TEST_STALL_AFTER {effect!r}")


def main(graph: str, request: str) -> None:
    """Serve `request` with the agent of `graph` and print `{"text", "output",
    "custom_outputs"}` (`output`: every output item, the text's and the approval requests')."""
    if effect := os.environ.get("SIGNOFF_TEST_STALL_AFTER"):
        install_stall(effect)
    with SignoffAgent(GRAPHS[graph]) as agent, serving_environment(os.environ["DATABRICKS_HOST"]):
        body = json.loads(request)
        calling_as(caller_for(agent, body))
        try:
            response = agent.predict(body)
        except ValueError as refused:
            print(json.dumps({"error": str(refused)}), flush=True)
            print(f"refused: {refused}", file=sys.stderr, flush=True)
            raise SystemExit(3) from None
    output = [item.model_dump(exclude_none=True) for item in response.output]
    reply = {"text": text_of(response), "output": output}
    print(json.dumps({**reply, "custom_outputs": response.custom_outputs}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
