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

import structlog

from reflex_common.errors import ConfigError


def _read_file(path: Path) -> bytes:
    # Kubernetes and editors leave a trailing newline; a secret never ends in one.
    return path.read_bytes().rstrip(b"\r\n")


# A file secret that vanishes or empties keeps its last value this long (a Kubernetes Secret
# volume swaps its files through a symlink; an editor may truncate before writing), then stops
# matching: deleting the file revokes the secret, without a restart.
REVOKE_AFTER_S = 10.0

_log = structlog.get_logger("secrets")


@dataclass
class Secret:
    index: int
    ref: str
    not_after: datetime | None = None
    _value: bytes = b""
    _path: Path | None = None
    # (inode, size, mtime) of the file as last read: a change in any of them means read it again.
    _stamp: tuple[int, int, int] | None = None
    _checked_at: float = field(default=0.0)
    _missing_since: float | None = None

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
                secret._value = _read_file(secret._path)
                secret._stamp = _stamp_of(secret._path)
            except OSError as exc:
                raise ConfigError(f"{where}: cannot read {secret._path}: {exc.strerror}") from exc
            if not secret._value:
                raise ConfigError(f"{where}: {secret._path} is empty")
        else:
            if not ref:
                raise ConfigError(f"{where}: empty secret")
            secret._value = ref.encode()
        return secret

    def _refresh(self, now: float) -> None:
        assert self._path is not None
        try:
            stamp = _stamp_of(self._path)
            value = _read_file(self._path) if stamp != self._stamp else self._value
        except OSError:
            stamp, value = None, b""
        if stamp is not None and value:
            if value != self._value:
                _log.info("secret_file_reloaded", index=self.index, path=str(self._path))
            self._value, self._stamp, self._missing_since = value, stamp, None
            return
        # Gone or empty: a rotation in progress, or a revocation.
        if self._missing_since is None:
            self._missing_since = now
        elif now - self._missing_since >= REVOKE_AFTER_S and self._value:
            _log.warning("secret_file_revoked", index=self.index, path=str(self._path))
            self._value, self._stamp = b"", None

    @property
    def value(self) -> bytes:
        """The secret now; empty once a file secret has been revoked (an empty secret never matches)."""
        if self._path is not None:
            now = time.monotonic()
            if now - self._checked_at >= 1.0:
                self._checked_at = now
                self._refresh(now)
        return self._value

    def active_at(self, now: datetime) -> bool:
        return self.not_after is None or now < self.not_after


def _stamp_of(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass
class SecretRing:
    """The secrets of one source; any active one may match."""

    secrets: list[Secret]

    def active(self, now: datetime) -> list[tuple[int, bytes]]:
        """(index, value) of the secrets that may match now: not past not_after, not revoked."""
        return [(s.index, value) for s in self.secrets if s.active_at(now) and (value := s.value)]

    def __len__(self) -> int:
        return len(self.secrets)
