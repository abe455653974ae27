"""What reflexctl knows of the pipeline's streams: names from KEY_PREFIX, a Redis client from REDIS_URL."""

from __future__ import annotations

import argparse
import sys

import redis

from reflex_common.keys import ANOMALY_GROUP, METRICS_GROUP, PROCESSOR_GROUP, Keys
from reflex_common.settings import CommonSettings
from reflexctl.runenv import RUN_ENV, lookup

# Stream short names as on-call types them → (key of the stream, the group that reads it).
STREAM_NAMES = ("raw", "events", "windows")


def stream_key(keys: Keys, name: str) -> str:
    return {"raw": keys.raw_stream, "events": keys.events_stream, "windows": keys.windows_stream}[name]


def reading_group(name: str) -> str:
    return {"raw": PROCESSOR_GROUP, "events": METRICS_GROUP, "windows": ANOMALY_GROUP}[name]


def setting(given: str | None, name: str, default: str) -> str:
    """A flag's value, else the variable from the environment or .run/env (saying so on stderr when
    it came from .run/env), else the default (saying so too: it may not be the pipeline meant)."""
    if given:
        return given
    found = lookup(name)
    if found is None:
        print(f"reflexctl: {name} not set (environment, {RUN_ENV}): using {default}", file=sys.stderr)
        return default
    if found.where != "the environment":
        print(f"reflexctl: {name} from {found.where}", file=sys.stderr)
    return found.value


def connect(args: argparse.Namespace) -> tuple[redis.Redis, Keys, CommonSettings]:
    settings = CommonSettings()
    redis_url = setting(args.redis_url, "REDIS_URL", settings.redis_url)
    prefix = setting(args.key_prefix, "KEY_PREFIX", settings.key_prefix)
    return redis.Redis.from_url(redis_url, socket_timeout=5), Keys(prefix), settings


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis-url", help="default: REDIS_URL, from the environment or .run/env")
    parser.add_argument("--key-prefix", help="default: KEY_PREFIX (reflex), from the environment or .run/env")
