"""Error lines under hostile traffic: one JSON line per error, at most a few per kind of error and
interval, the next one saying how many were dropped (so a flood cannot flood the logs)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from typing import Any

import structlog

MAX_KINDS = 1024


class LogThrottle:
    def __init__(self, interval_s: float = 10.0, burst: int = 5, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.burst = burst
        self._clock = clock
        self._log = structlog.get_logger("ingress")
        # kind -> (start of its interval, lines in it, lines dropped since the last one written)
        self._seen: dict[Hashable, tuple[float, int, int]] = {}

    def emit(self, level: str, event: str, kind: Hashable, **fields: Any) -> bool:
        """Write `event` at `level` unless `kind` has had its burst this interval; True when written."""
        now = self._clock()
        start, written, dropped = self._seen.get(kind, (now, 0, 0))
        if now - start >= self.interval_s:
            start, written = now, 0
        if written >= self.burst:
            self._seen[kind] = (start, written, dropped + 1)
            return False
        if len(self._seen) >= MAX_KINDS and kind not in self._seen:
            self._seen.clear()
        self._seen[kind] = (start, written + 1, 0)
        if dropped:
            fields["dropped_before"] = dropped
        getattr(self._log, level)(event, **fields)
        return True


class AiohttpLogs(logging.Handler):
    """aiohttp's own log records (the `aiohttp.*` loggers) as throttled structlog JSON lines: the
    message's first line and the error's type, never a multi-line traceback."""

    def __init__(self, throttle: LogThrottle) -> None:
        super().__init__()
        self.throttle = throttle

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        error = type(exc).__name__ if exc is not None else None
        level = "error" if record.levelno >= logging.ERROR else "warning"
        lines = record.getMessage().splitlines()
        message = lines[0][:200] if lines else ""
        kind = (record.name, message[:40], error)
        self.throttle.emit(level, "aiohttp_log", kind, logger=record.name, message=message, error=error)

    @classmethod
    def install(cls, throttle: LogThrottle) -> None:
        """Route the `aiohttp` loggers here (called once, by main())."""
        logger = logging.getLogger("aiohttp")
        logger.handlers = [cls(throttle)]
        logger.propagate = False
