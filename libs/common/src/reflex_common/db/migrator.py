"""Schema migrations: numbered SQL files applied once each, in order, under an advisory lock so that
several replicas starting together do not race."""

from __future__ import annotations

from importlib import resources

import psycopg

_LOCK_ID = 0x5EF1E7  # pg_advisory_xact_lock key shared by every service


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("reflex_common.db") / "migrations"
    files = sorted((f.name, f.read_text()) for f in folder.iterdir() if f.name.endswith(".sql"))
    return files


async def apply_migrations(conn: psycopg.AsyncConnection[object]) -> list[str]:
    """Apply every migration not applied yet; returns the names applied now."""
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT name FROM schema_migrations")
        done = {row[0] for row in await cur.fetchall()}  # type: ignore[index]
        for name, sql in migration_files():
            if name in done:
                continue
            await conn.execute(sql.encode())
            await conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
            applied_now.append(name)
    return applied_now
