# signoff: two commands for a newcomer. `make dev` serves every graph; `make test` proves them.
# Each target installs uv when it is missing and syncs the locked environment first.

PORT ?= 2024
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
OFFLINE := LANGGRAPH_CLI_NO_ANALYTICS=1 LANGGRAPH_NO_VERSION_CHECK=true LANGSMITH_TRACING=false

.PHONY: setup dev test unit lint bench interop

setup:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet uv
	@$(UV) sync --locked --quiet

dev: setup
	$(OFFLINE) .venv/bin/langgraph dev --no-browser --no-reload --port $(PORT)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

# Both layers: tests/unit (in process, seconds) and tests/integration (the real server, the
# emulator over HTTP, PostgreSQL, Chromium), on two workers (pytest-xdist), a test file each
# at a time: much of a server test is waiting, and each worker has its own server, emulator
# and PostgreSQL cluster.
test: lint
	@scripts/ensure-postgres.sh
	@scripts/ensure-chromium.sh
	.venv/bin/pytest -n 2 --dist loadfile

# The fast layer alone, under 30 s: every graph path, decision and malformed answer in process
# (fewer property-based examples than `make test` runs).
unit: setup
	SIGNOFF_PROPERTY_EXAMPLES=40 .venv/bin/pytest -q tests/unit

# The real Agent Inbox in Chromium against the real server, a few minutes. signoff ships no
# copy of it: build langchain-ai/agent-inbox as its README says (offline, its Google Font must
# give way to a local one) and name the build: `make interop SIGNOFF_AGENT_INBOX_DIR=<checkout>`,
# or `SIGNOFF_AGENT_INBOX_URL=<address>` for one already serving. It also records what Agent
# Inbox sends (test-output/agent_inbox_requests.json; SIGNOFF_RECORD_AGENT_INBOX=1 updates the
# fixture `make test` replays).
interop: setup
	@scripts/ensure-postgres.sh
	@scripts/ensure-chromium.sh
	.venv/bin/pytest -m interop tests/integration/test_agent_inbox_app.py

# Benchmarks (bench/): ratios against a baseline measured side by side in the same run.
# `make bench BENCH=--quick` for a short run; `BENCH="cycle --no-postgres"` picks and tunes.
bench: setup
	@scripts/ensure-postgres.sh
	$(OFFLINE) .venv/bin/python -m bench $(BENCH)
