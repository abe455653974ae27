"""Postgres access: pool, migrations and the translation of outages into TransientError."""

from reflex_common.db.errors import transient_db
from reflex_common.db.migrator import apply_migrations
from reflex_common.db.pool import open_pool

__all__ = ["apply_migrations", "open_pool", "transient_db"]
