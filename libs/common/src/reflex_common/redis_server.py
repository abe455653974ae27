"""The start-up check of the Redis (or Valkey) server every service runs: a server that evicts keys or
cannot honour the durability asked for stops the start with one line; an unsafe-but-working setting
is a warning (and a gauge, `reflex_redis_unsafe_settings`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from redis.asyncio import Redis
from redis.exceptions import RedisError

from reflex_common.error_classes import translated
from reflex_common.errors import ConfigError

Durability = Literal["fast", "aof", "replica"]


@dataclass(frozen=True, slots=True)
class ServerFitness:
    """What the start-up check found: the server, and the unsafe-but-working settings (warnings)."""

    server: str
    version: tuple[int, ...]
    warnings: list[str] = field(default_factory=list)


async def check_server(redis: Redis, durability: Durability = "fast") -> ServerFitness:
    """Read the server's version and its eviction and persistence settings (INFO; CONFIG where it is
    allowed) at start. Raises ConfigError when the server cannot honour `durability` or evicts keys
    (an evicted stream or dedup key is lost silently); returns the unsafe-but-working settings as
    warnings. Redis errors propagate translated (TransientError while it is down)."""
    try:
        info: dict[str, Any] = await redis.info()
    except RedisError as exc:
        if (error := translated(exc, "redis refused INFO")) is not None:
            raise error from exc
        raise
    server = "valkey" if "valkey_version" in info else "redis"
    version = tuple(int(p) for p in str(info.get("valkey_version") or info.get("redis_version", "0")).split(".")[:3])
    policy = str(info.get("maxmemory_policy", "noeviction"))
    if policy != "noeviction":
        raise ConfigError(
            f"redis maxmemory-policy is {policy!r}: it may evict stream entries and dedup keys; set it to noeviction"
        )
    aof = bool(int(info.get("aof_enabled", 0)))
    warnings: list[str] = []
    try:
        fsync = str((await redis.config_get("appendfsync")).get("appendfsync", "?"))
    except RedisError:
        fsync = "?"  # CONFIG renamed or refused (managed Redis): what INFO says must do
        warnings.append("CONFIG GET is refused: appendfsync unknown")
    if durability == "aof":
        if server == "redis" and version < (7, 2):
            raise ConfigError(
                f"DURABILITY=aof needs WAITAOF (Redis >= 7.2 or Valkey); the server is {server} {version}"
            )
        if not aof:
            raise ConfigError("DURABILITY=aof needs appendonly yes on the server")
        if fsync in ("everysec", "no"):
            # Measured (tests/integration/test_power_loss.py): Valkey 9.1 answers WAITAOF 1 0 under
            # everysec before the fsync has happened (the premature fsynced_reploff update fixed in
            # Redis by redis/redis#13793), so the 202 would promise what a power cut takes away.
            raise ConfigError(
                f"DURABILITY=aof needs appendfsync always (it is {fsync}): under everysec WAITAOF may "
                "answer before the fsync on this server family"
            )
        if fsync == "?":
            warnings.append("DURABILITY=aof but appendfsync cannot be read: it must be always")
    elif durability == "replica":
        if int(info.get("connected_slaves", 0)) == 0:
            warnings.append("DURABILITY=replica but no replica is connected: every write will answer 503")
    else:
        if not aof:
            warnings.append("appendonly is off: a Redis crash or power loss loses every 202 since the last snapshot")
        elif fsync != "always":
            warnings.append(f"appendfsync is {fsync}: a power loss may lose up to a second of 202-answered events")
    return ServerFitness(server, version, warnings)
