"""Webhook secrets: literal, `env:VAR` or `file:PATH`, several per source for rotation.

`file:` secrets are re-read when the file changes (a Kubernetes Secret volume swaps its files), so a
rotation needs no restart. A secret that cannot be resolved at start is a ConfigError: verification
fails closed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from reflex_common.errors import ConfigError


def _read_file(path: Path) -> bytes:
    # Kubernetes and editors leave a trailing newline; a secret never ends in one.
    return path.read_bytes().rstrip(b"\r\n")


@dataclass
class Secret:
    index: int
    ref: str
    not_after: datetime | None = None
    _value: bytes = b""
    _path: Path | None = None
    _mtime_ns: int = -1
    _checked_at: float = field(default=0.0)

    @classmethod
    def resolve(cls, index: int, ref: str, not_after: datetime | None, source: str) -> Secret:
        secret = cls(index=index, ref=ref, not_after=not_after)
        where = f"source {source!r}, secret #{index}"
        if ref.startswith("env:"):
            var = ref[4:]
            value = os.environ.get(var)
            if not value:
                raise ConfigError(f"{where}: environment variable {var} is not set or empty")
            secret._value = value.encode()
        elif ref.startswith("file:"):
            secret._path = Path(ref[5:])
            try:
                secret._reload(force=True)
            except OSError as exc:
                raise ConfigError(f"{where}: cannot read {secret._path}: {exc.strerror}") from exc
            if not secret._value:
                raise ConfigError(f"{where}: {secret._path} is empty")
        else:
            if not ref:
                raise ConfigError(f"{where}: empty secret")
            secret._value = ref.encode()
        return secret

    def _reload(self, *, force: bool = False) -> None:
        assert self._path is not None
        now = time.monotonic()
        if not force and now - self._checked_at < 1.0:
            return
        self._checked_at = now
        mtime = self._path.stat().st_mtime_ns
        if force or mtime != self._mtime_ns:
            value = _read_file(self._path)
            if value:
                self._value, self._mtime_ns = value, mtime

    @property
    def value(self) -> bytes:
        if self._path is not None:
            try:
                self._reload()
            except OSError:
                pass  # mid-rotation: keep the last good value
        return self._value

    def active_at(self, now: datetime) -> bool:
        return self.not_after is None or now < self.not_after


@dataclass
class SecretRing:
    """The secrets of one source; any active one may match."""

    secrets: list[Secret]

    def active(self, now: datetime) -> list[tuple[int, bytes]]:
        return [(s.index, s.value) for s in self.secrets if s.active_at(now)]

    def __len__(self) -> int:
        return len(self.secrets)
