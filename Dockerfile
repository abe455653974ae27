# syntax=docker/dockerfile:1.7
# ReflexAgent: the one Dockerfile of all four services, built from the repository root with the
# service named by a build argument:
#   docker build --build-arg SERVICE=ingress -t reflexagent/ingress:dev .
# SERVICE is one of ingress, event-processor, metric-worker, anomaly-detector (`make images` builds
# all four; deploy/compose.yaml passes it per service). It sits at the root because the root is the
# build context of every image: the uv workspace's lockfile and manifests are here, and so is the
# .dockerignore that applies to it.
#
# Only SERVICE differs between the four builds. What follows from it: the source copied
# (services/$SERVICE), the uv package and console script (the table in the build stage), the labels,
# and the port of /livez (the runtime stage).
ARG SERVICE

FROM python:3.11-slim-bookworm AS build
ARG SERVICE
COPY --from=ghcr.io/astral-sh/uv:0.9.5 /uv /bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# The package of each service (the `name` of services/<service>/pyproject.toml, which is also the
# name of its console script in [project.scripts]). Any other SERVICE, or none, stops the build here,
# before anything is downloaded, with the list of the valid ones.
RUN case "${SERVICE}" in \
      ingress)          package=reflex-ingress ;; \
      event-processor)  package=reflex-processor ;; \
      metric-worker)    package=reflex-metrics ;; \
      anomaly-detector) package=reflex-anomaly ;; \
      *) echo "error: build with --build-arg SERVICE=<service>, one of: ingress event-processor metric-worker anomaly-detector (got '${SERVICE}')" >&2; exit 1 ;; \
    esac \
    && echo "${package}" > /src/package
# Dependencies first, in their own cached layer: only the lockfile and the workspace's manifests, so
# a change to the source never re-resolves or re-downloads a dependency.
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/
COPY services/ingress/pyproject.toml services/ingress/
COPY services/event-processor/pyproject.toml services/event-processor/
COPY services/metric-worker/pyproject.toml services/metric-worker/
COPY services/anomaly-detector/pyproject.toml services/anomaly-detector/
COPY tools/reflexctl/pyproject.toml tools/reflexctl/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package "$(cat /src/package)"
# Then the source of this service and the common library only: nothing else of the build context
# (no other service, no local secrets or .env files) can reach the image.
COPY libs/common libs/common
COPY services/${SERVICE} services/${SERVICE}
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "$(cat /src/package)"
# The entry point at one fixed path for every service (an exec-form ENTRYPOINT expands no variable):
# a link to the service's console script, which runs `<module>.__main__:main` with the venv's python.
RUN ln -s "$(cat /src/package)" /app/.venv/bin/reflex-service

FROM python:3.11-slim-bookworm
ARG SERVICE
LABEL org.opencontainers.image.title="reflexagent/${SERVICE}" \
      org.opencontainers.image.description="ReflexAgent ${SERVICE} (services/${SERVICE}/README.md)"
# The virtual environment only: the workspace packages are installed into it (--no-editable), so
# neither uv nor the source tree is in the runtime image. Files stay owned by root: the service
# cannot modify its own code, and the root filesystem can be mounted read-only.
COPY --from=build /app/.venv /app/.venv
# Where /livez is: the ingress serves it with the webhooks on 8080 (its 9090 has /metrics only); a
# worker serves /metrics, /livez and /readyz on 9090. ${SERVICE#ingress} (Dockerfile syntax 1.7) is
# empty for the ingress and the service's name for a worker; the build stage has already refused
# any other SERVICE.
ARG WORKER=${SERVICE#ingress}
ARG WORKER_LIVEZ_PORT=${WORKER:+9090}
ARG LIVEZ_PORT=${WORKER_LIVEZ_PORT:-8080}
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    LIVEZ_URL=http://127.0.0.1:${LIVEZ_PORT}/livez
# A numeric non-root user, so Kubernetes can verify runAsNonRoot without a passwd lookup.
USER 10001:10001
WORKDIR /app
# /livez's port, and 9090 (/metrics) on every service: the two are one port on a worker.
EXPOSE ${LIVEZ_PORT} 9090
# For `docker run` and compose only (Kubernetes uses its own probes): the liveness endpoint, from
# LIVEZ_URL above (an exec-form CMD expands no variable, so python reads it from the environment).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['LIVEZ_URL'], timeout=2)"]
# Exec form, no shell and no init: python is PID 1 (the console script is a python script, so the
# kernel starts the venv's python on it). The service installs its own SIGTERM/SIGINT handlers
# (drain, then exit 0) and starts no child processes, so there is nothing to forward or reap and an
# init (tini) would add a binary without adding behaviour. (As PID 1, python ignores a SIGTERM that
# arrives before those handlers exist, during start-up; the SIGKILL at the end of the grace period
# then ends a process that has read nothing yet.)
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/.venv/bin/reflex-service"]
