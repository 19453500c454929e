"""One Model Serving replica, as a separate process: `python tests/serving_worker.py GRAPH
REQUEST_JSON` runs one request through `SignoffAgent` and prints the response as JSON.

The checkpointer, workspace and ledger come from the environment, as in Model Serving.
"""

from __future__ import annotations

import json
import sys

from signoff.serving import agent_for


def main(graph: str, request: str) -> None:
    """Serve `request` with the agent of `graph` and print `{"text", "custom_outputs"}`."""
    with agent_for(graph) as agent:
        response = agent.predict(json.loads(request))
    [item] = response.output
    text = item.model_dump()["content"][0]["text"]
    print(json.dumps({"text": text, "custom_outputs": response.custom_outputs}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
