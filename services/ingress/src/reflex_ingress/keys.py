"""Typed keys of the state the ingress keeps on its aiohttp app (no globals)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from reflex_common.streams.backlog import BacklogMonitor
from reflex_ingress.budget import BodyBudget
from reflex_ingress.enqueuer import Enqueuer
from reflex_ingress.log_throttle import LogThrottle
from reflex_ingress.metrics import IngressMetrics
from reflex_ingress.settings import IngressSettings
from reflex_ingress.sources.registry import Source

SETTINGS = web.AppKey("settings", IngressSettings)
SOURCES = web.AppKey("sources", dict[str, Source])
TRACER = web.AppKey("tracer", Tracer)
REGISTRY = web.AppKey("registry", CollectorRegistry)
INGRESS_METRICS = web.AppKey("ingress_metrics", IngressMetrics)
REDIS = web.AppKey("redis", Redis)
ENQUEUER = web.AppKey("enqueuer", Enqueuer)
BACKLOG = web.AppKey("backlog", BacklogMonitor)
# Bytes of bodies held across all in-flight requests.
BUDGET = web.AppKey("budget", BodyBudget)
# verify() calls that may block, in worker threads: a few at a time per source.
OFFLOAD = web.AppKey("offload", dict[str, asyncio.Semaphore])
# Per request: the traceparent to put on the raw entry when no spans are made; "": make them.
TRACEPARENT = web.RequestKey("traceparent", str)  # "" when spans are made
# Error lines, at most a few per kind of error and interval.
LOG_THROTTLE = web.AppKey("log_throttle", LogThrottle)
