"""`reflexctl dlq list|replay`: look at dead letters and, once the cause is fixed, send them back.

    reflexctl dlq list --stream raw
    reflexctl dlq list --stream raw --reason invalid           # invalid | poison | failed | trimmed
    reflexctl dlq replay --stream raw --id 1718000000000-0     # or --all, or --all --reason failed

Replay puts the original fields back on the stream (a new entry, so a fresh delivery count) and
deletes the letter, in one MULTI. Letters of trimmed entries carry no fields and cannot be replayed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import redis

from reflex_common.streams.ports import DLQ_REASONS
from reflexctl.streams import STREAM_NAMES, add_connection_args, connect, stream_key

_META = b"dlq:"


def original_fields(fields: dict[bytes, bytes]) -> dict[bytes, bytes]:
    return {k: v for k, v in fields.items() if not k.startswith(_META)}


def replay(r: redis.Redis, dlq: str, stream: str, ids: list[bytes], maxlen: int) -> tuple[int, list[str]]:
    """Replay the letters `ids`; returns how many were replayed and why the others were not."""
    replayed, skipped = 0, []
    for letter_id in ids:
        found: Any = r.xrange(dlq, letter_id, letter_id)
        if not found:
            skipped.append(f"{letter_id.decode()}: no such letter")
            continue
        fields = original_fields(found[0][1])
        if not fields:
            skipped.append(f"{letter_id.decode()}: a trimmed entry, nothing to replay")
            continue
        with r.pipeline(transaction=True) as pipe:
            pipe.xadd(stream, fields, maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
            pipe.xdel(dlq, letter_id)
            pipe.execute()
        replayed += 1
    return replayed, skipped


def letters_of(r: redis.Redis, dlq: str, reason: str | None, count: int | None) -> list[tuple[bytes, Any]]:
    """Letters oldest first, only those of `reason` when given, at most `count` (None: all)."""
    found: list[tuple[bytes, Any]] = []
    start = "-"
    while count is None or len(found) < count:
        page: Any = r.xrange(dlq, start, "+", count=500)
        if not page:
            break
        found += [(i, f) for i, f in page if reason is None or f.get(b"dlq:reason") == reason.encode()]
        start = "(" + page[-1][0].decode()
    return found if count is None else found[:count]


def _backlog(r: redis.Redis, stream: str) -> int:
    """The largest lag + pending over the stream's groups (an unknown lag counts as the whole stream)."""
    if not r.exists(stream):
        return 0
    groups: Any = r.xinfo_groups(stream)
    length = int(r.xlen(stream))
    return max(((int(g["lag"]) if g.get("lag") is not None else length) + int(g["pending"]) for g in groups), default=0)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("dlq", help="list or replay dead letters")
    parser.add_argument("action", choices=["list", "replay"])
    parser.add_argument("--stream", choices=STREAM_NAMES, default="raw")
    parser.add_argument("--count", type=int, default=20, help="list: at most this many letters")
    parser.add_argument("--id", action="append", default=[], help="replay: a letter id (repeatable)")
    parser.add_argument("--all", action="store_true", help="replay: every letter (of --reason, if given)")
    parser.add_argument("--reason", choices=DLQ_REASONS, help="only letters dead-lettered for this reason")
    add_connection_args(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    r, keys, settings = connect(args)
    stream = stream_key(keys, args.stream)
    dlq = keys.dlq_stream(stream)
    try:
        if args.action == "list":
            for letter_id, fields in letters_of(r, dlq, args.reason, args.count):
                meta = {k.decode()[4:]: v.decode(errors="replace") for k, v in fields.items() if k.startswith(_META)}
                print(
                    f"{letter_id.decode()}  original={meta.get('original_id')}  reason={meta.get('reason', '?')}  "
                    f"class={meta.get('error_class') or '-'}  consumer={meta.get('consumer') or '-'}  "
                    f"deliveries={meta.get('deliveries')}  error={meta.get('error')}"
                )
            print(f"{r.xlen(dlq)} letter(s) in {dlq}")
            return 0
        if not args.id and not args.all:
            print("reflexctl dlq replay: name letters with --id, or --all", file=sys.stderr)
            return 2
        everything = letters_of(r, dlq, args.reason, None) if args.all else []
        ids = [i.encode() for i in args.id] or [letter_id for letter_id, _ in everything]
        backlog = _backlog(r, stream)
        if backlog + len(ids) > settings.max_backlog_entries:
            # The same bound the producers keep: past it, MAXLEN trimming could reach unread entries.
            print(
                f"reflexctl dlq replay: {stream} holds {backlog} unacked entries; replaying {len(ids)} more would "
                f"pass MAX_BACKLOG_ENTRIES ({settings.max_backlog_entries}). Wait for the consumers to catch up.",
                file=sys.stderr,
            )
            return 1
        replayed, skipped = replay(r, dlq, stream, ids, settings.stream_maxlen)
        for line in skipped:
            print(f"skipped {line}")
        print(f"replayed {replayed} letter(s) to {stream}")
        return 0 if not skipped else 1
    except redis.RedisError as exc:
        print(f"reflexctl dlq: redis: {exc}", file=sys.stderr)
        return 1
    finally:
        r.close()
