"""What reflexctl knows of the pipeline's streams: names from KEY_PREFIX, a Redis client from REDIS_URL."""

from __future__ import annotations

import argparse

import redis

from reflex_common.keys import ANOMALY_GROUP, METRICS_GROUP, PROCESSOR_GROUP, Keys
from reflex_common.settings import CommonSettings

# Stream short names as on-call types them → (key of the stream, the group that reads it).
STREAM_NAMES = ("raw", "events", "windows")


def stream_key(keys: Keys, name: str) -> str:
    return {"raw": keys.raw_stream, "events": keys.events_stream, "windows": keys.windows_stream}[name]


def reading_group(name: str) -> str:
    return {"raw": PROCESSOR_GROUP, "events": METRICS_GROUP, "windows": ANOMALY_GROUP}[name]


def connect(args: argparse.Namespace) -> tuple[redis.Redis, Keys, CommonSettings]:
    settings = CommonSettings()
    redis_url = args.redis_url or settings.redis_url
    prefix = args.key_prefix or settings.key_prefix
    return redis.Redis.from_url(redis_url, socket_timeout=5), Keys(prefix), settings


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis-url", help="default: REDIS_URL")
    parser.add_argument("--key-prefix", help="default: KEY_PREFIX (reflex)")
