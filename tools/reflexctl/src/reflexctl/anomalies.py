"""`reflexctl anomalies`: the anomaly-detector's incidents, newest first — what paged, what is
still open, what it saw against what it expected, and when it opened and resolved.

    reflexctl anomalies                   # the latest incidents, open or resolved
    reflexctl anomalies --open            # only those still open (what Alertmanager shows firing)
    reflexctl anomalies --source github-main --limit 100

Times are window starts and ends in UTC: "opened" is the start of the first anomalous window,
"resolved" the end of the window that resolved it.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

import psycopg

from reflex_common.settings import WorkerSettings

_QUERY = """
SELECT source, type, kind, observed, expected, lower_bound, upper_bound, anomalous_windows, opened_at,
       resolved_at, resolution
FROM incidents
WHERE (NOT %(open)s OR resolved_at IS NULL) AND (%(source)s::text IS NULL OR source = %(source)s)
ORDER BY resolved_at IS NULL DESC, opened_at DESC, source, type, kind
LIMIT %(limit)s
"""

_HEADER = ("source", "type", "kind", "observed", "expected (band)", "windows", "opened", "resolved")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("anomalies", help="incidents: open and resolved anomalies per series")
    parser.add_argument("--open", action="store_true", help="only incidents still open")
    parser.add_argument("--source", help="only this source")
    parser.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    parser.add_argument("--database-url", help="default: DATABASE_URL")
    parser.set_defaults(run=run)


def _time(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if at else ""


def rows_of(records: list[tuple[Any, ...]]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for source, type_, kind, observed, expected, lower, upper, windows, opened, resolved, resolution in records:
        rows.append(
            (
                source,
                type_,
                kind,
                f"{observed:g}",
                f"{expected:g} ({lower:.1f}–{upper:.1f})",
                str(windows),
                _time(opened),
                f"{_time(resolved)} {resolution}" if resolved else "open",
            )
        )
    return rows


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [_HEADER, *rows]) for i in range(len(_HEADER))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [_HEADER, *rows]
    )


def run(args: argparse.Namespace) -> int:
    url = args.database_url or WorkerSettings().database_url
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            records = conn.execute(_QUERY, {"open": args.open, "source": args.source, "limit": args.limit}).fetchall()
    except psycopg.Error as exc:
        print(f"reflexctl anomalies: {exc}", file=sys.stderr)
        return 1
    if not records:
        print("no open incidents" if args.open else "no incidents")
        return 0
    print(table(rows_of(records)))
    shown = sum(1 for r in records if r[9] is None)
    print(f"{len(records)} incident(s), {shown} open")
    return 0
