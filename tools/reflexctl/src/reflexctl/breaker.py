"""`reflexctl breaker status|close`: see which groups' dead-letter breakers are open, and close one
once the cause is fixed (the consumers resume within CLAIM_INTERVAL_S).

    reflexctl breaker status
    reflexctl breaker close --stream raw
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import redis

from reflexctl.streams import STREAM_NAMES, add_connection_args, connect, reading_group, stream_key


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("breaker", help="show or close dead-letter circuit breakers")
    parser.add_argument("action", choices=["status", "close"])
    parser.add_argument("--stream", choices=STREAM_NAMES, help="close: the stream whose group's breaker to close")
    add_connection_args(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    r, keys, _ = connect(args)
    try:
        if args.action == "status":
            for name in STREAM_NAMES:
                key = keys.breaker(stream_key(keys, name), reading_group(name))
                reason: Any = r.get(key)
                if reason is None:
                    print(f"{name:8} closed")
                else:
                    print(f"{name:8} OPEN for {max(0, int(r.pttl(key))) / 1000:.0f}s more: {reason.decode()}")
            return 0
        if not args.stream:
            print("reflexctl breaker close: name the stream with --stream", file=sys.stderr)
            return 2
        key = keys.breaker(stream_key(keys, args.stream), reading_group(args.stream))
        print(f"{args.stream}: closed" if r.delete(key) else f"{args.stream}: was not open")
        return 0
    except redis.RedisError as exc:
        print(f"reflexctl breaker: redis: {exc}", file=sys.stderr)
        return 1
    finally:
        r.close()
