"""signoff on Databricks Apps, served by Agent Bricks' `DurableAgentServer`.

One App serves one URL for everyone: the Agent Bricks invocation API of a signoff graph, the
part of the LangGraph API signoff's CLI and inbox use, the web inbox, the metrics, the standing
approvals API and Slack's buttons; and it runs the sweeper and webhook delivery.

- `identity`: who is calling: Databricks Apps' forwarded user token (verified by the
  workspace and cross-checked with the forwarded user name), else a bearer token; never a
  field of a body.
- `invocations`: the invocation API's hooks. A turn or an answer runs through
  `signoff.checkpoints` as its caller, so the LangGraph server's admission, policy (four-eyes),
  refusals and audit apply unchanged; recovery after a dead worker runs on what was approved,
  once, and applies nothing twice.
- `server`: the app itself (`build_app`, for `uvicorn --factory`), its routes and its lifespan.

`deploy/databricks_apps.py` deploys it (`deploy/apps/app.yaml`); threads and checkpoints live
in Lakebase, invocations in the Agent Bricks Runtime Store.
"""
