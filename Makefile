# signoff: two commands for a newcomer. `make dev` serves every graph; `make test` proves them.
# Each target installs uv when it is missing and syncs the locked environment first.

PORT ?= 2024
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
OFFLINE := LANGGRAPH_CLI_NO_ANALYTICS=1 LANGGRAPH_NO_VERSION_CHECK=true LANGSMITH_TRACING=false

.PHONY: setup dev test lint bench

setup:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet uv
	@$(UV) sync --locked --quiet

dev: setup
	$(OFFLINE) .venv/bin/langgraph dev --no-browser --no-reload --port $(PORT)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

test: lint
	@scripts/ensure-postgres.sh
	.venv/bin/pytest

# Benchmarks (bench/): ratios against a baseline measured side by side in the same run.
# `make bench BENCH=--quick` for a short run; `BENCH="cycle --no-postgres"` picks and tunes.
bench: setup
	@scripts/ensure-postgres.sh
	$(OFFLINE) .venv/bin/python -m bench $(BENCH)
