"""`reflexctl migrate`: apply the database migrations (the workers also do it at start)."""

from __future__ import annotations

import argparse
import asyncio
import sys

import psycopg

from reflex_common.db import apply_migrations
from reflex_common.settings import WorkerSettings
from reflexctl.streams import setting


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("migrate", help="apply the Postgres migrations")
    parser.add_argument("--database-url", help="default: DATABASE_URL, from the environment or .run/env")
    parser.set_defaults(run=run)


async def _migrate(url: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        return await apply_migrations(conn)


def run(args: argparse.Namespace) -> int:
    url = setting(args.database_url, "DATABASE_URL", WorkerSettings().database_url)
    try:
        applied = asyncio.run(_migrate(url))
    except psycopg.Error as exc:
        print(f"reflexctl migrate: {exc}", file=sys.stderr)
        return 1
    print("applied: " + ", ".join(applied) if applied else "up to date")
    return 0
