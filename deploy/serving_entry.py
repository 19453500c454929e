"""MLflow models-from-code entry point: the signoff agent Model Serving loads.

`mlflow.pyfunc.log_model(python_model="deploy/serving_entry.py", ...)` logs this file; MLflow
runs it when it loads the model. It serves the graph named by `SIGNOFF_SERVING_GRAPH` (default
`databricks_workflow`; one of `graphs.GRAPHS`) with the checkpointer chosen by
`SIGNOFF_CHECKPOINTER`, or Lakebase when `LAKEBASE_INSTANCE_NAME` is set. Importing it opens
nothing: the graph is built and the saver opened when MLflow loads the model or on the first
request. `deploy/model_serving.py` logs, registers and deploys it.
"""

from __future__ import annotations

import os

import mlflow

from signoff.graphs import graph_builder
from signoff.serving import SignoffAgent

AGENT = SignoffAgent(graph_builder(os.environ.get("SIGNOFF_SERVING_GRAPH", "databricks_workflow")))
mlflow.models.set_model(AGENT)
