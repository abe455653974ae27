"""`reflexctl status`: each stream's length, its groups' consumers, lag, pending entries and oldest
pending age, its dead letters and entries lost to trimming — the first thing to look at when paged."""

from __future__ import annotations

import argparse
import sys
import time

import redis

from reflexctl.streams import STREAM_NAMES, add_connection_args, connect, stream_key


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("status", help="streams, groups, backlog and dead letters")
    add_connection_args(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    r, keys, _ = connect(args)
    try:
        print(
            f"{'stream':<28} {'length':>9} {'group':<18} {'consumers':>9} {'lag':>9} {'pending':>9} "
            f"{'oldest pending':>15} {'dlq':>6} {'trimmed':>8}"
        )
        for name in STREAM_NAMES:
            stream = stream_key(keys, name)
            length = r.xlen(stream)
            dlq = r.xlen(keys.dlq_stream(stream))
            trimmed = int(r.get(keys.trimmed_counter(stream)) or 0)
            groups = r.xinfo_groups(stream) if r.exists(stream) else []
            for g in groups or [{"name": b"-", "consumers": 0, "lag": 0, "pending": 0}]:
                age = "-"
                if g["pending"]:
                    oldest = r.xpending(stream, g["name"])["min"]
                    age = f"{time.time() - int(oldest.split(b'-')[0]) / 1000:.1f}s"
                lag = "unknown" if g.get("lag") is None else g["lag"]
                print(
                    f"{stream:<28} {length:>9} {g['name'].decode():<18} {g['consumers']:>9} {lag:>9} "
                    f"{g['pending']:>9} {age:>15} {dlq:>6} {trimmed:>8}"
                )
        return 0
    except redis.RedisError as exc:
        print(f"reflexctl status: redis: {exc}", file=sys.stderr)
        return 1
    finally:
        r.close()
