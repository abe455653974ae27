"""The SOURCES_FILE: which webhook sources exist, of which kind, with which secrets and limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from reflex_common.errors import ConfigError

MAX_BODY_BYTES_LIMIT = 64 * 1024 * 1024


class SecretSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    value: str
    # With a time zone: a naive instant would fail every comparison at request time, not at start.
    not_after: AwareDatetime | None = None


class SourceConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    kind: str
    secrets: list[str | SecretSpec] = Field(default_factory=list)
    # 413 above this; None = the kind's default (sized to what the provider sends, see registry.py).
    max_body_bytes: int | None = Field(default=None, ge=1, le=MAX_BODY_BYTES_LIMIT)
    # Replay window for schemes that sign a timestamp; None = the kind's default.
    replay_window_s: int | None = Field(default=None, ge=1)
    # How long the ingress remembers a delivery key to drop the sender's retries; None = kind default.
    dedup_horizon_s: int | None = Field(default=None, ge=0)
    # Also take a repeat of the same body, under any delivery id, for a duplicate within the horizon:
    # for kinds whose signature covers no timestamp (a captured body could be replayed under a new
    # id), when two genuine deliveries never have identical bodies.
    dedup_on_body: bool = False
    # Kind-specific settings (header names, algorithms, verify tokens, ...).
    options: dict[str, Any] = Field(default_factory=dict)

    def secret_specs(self) -> list[SecretSpec]:
        return [SecretSpec(value=s) if isinstance(s, str) else s for s in self.secrets]


class SourcesFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sources: list[SourceConfig]


def load_sources(path: Path) -> list[SourceConfig]:
    """Parse and validate the file; any problem is a ConfigError naming the file and the field."""
    try:
        raw: Any = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"SOURCES_FILE {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        # Line and column only: the offending line may hold a literal secret.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"SOURCES_FILE {path}: not valid YAML{where}") from None
    try:
        parsed = SourcesFile.model_validate(raw)
    except ValidationError as exc:
        # For a union (a secret given as text or as {value, not_after}) pydantic reports each branch;
        # the deepest location is the one that says what is wrong.
        first = max(exc.errors(), key=lambda e: len(e["loc"]))
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"SOURCES_FILE {path}: {where}: {first['msg']}") from exc
    names = [s.name for s in parsed.sources]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"SOURCES_FILE {path}: duplicate source names: {', '.join(duplicates)}")
    return parsed.sources
