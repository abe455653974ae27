"""Typed access to a source's kind-specific `options`, and its per-source limits.

Builders call these at start; every problem is a ValueError, which the registry turns into a
ConfigError naming the source (the service must not start with a source it cannot verify).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reflex_ingress.sources.config import SourceConfig


def replay_window_s(config: SourceConfig, default_s: int) -> int:
    return config.replay_window_s if config.replay_window_s is not None else default_s


def dedup_horizon_s(config: SourceConfig, default_s: int) -> int:
    return config.dedup_horizon_s if config.dedup_horizon_s is not None else default_s


@dataclass(frozen=True)
class Options:
    values: Mapping[str, Any]

    @classmethod
    def of(cls, config: SourceConfig, allowed: Iterable[str]) -> Options:
        """The source's options; an unknown option (a typo) is a ValueError, never ignored."""
        known = set(allowed)
        unknown = sorted(set(config.options) - known)
        if unknown:
            hint = f"known: {', '.join(sorted(known))}" if known else "this kind takes no options"
            raise ValueError(f"unknown option(s) {', '.join(unknown)} ({hint})")
        return cls(config.options)

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name, default)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"option {name} must be a string")
        return value

    def required_text(self, name: str) -> str:
        value = self.text(name)
        if not value:
            raise ValueError(f"option {name} is required")
        return value

    def choice(self, name: str, default: str, allowed: Iterable[str]) -> str:
        value = self.text(name, default) or default
        choices = sorted(allowed)
        if value.lower() not in choices:
            raise ValueError(f"option {name} must be one of {', '.join(choices)}")
        return value.lower()

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name, default)
        if not isinstance(value, bool):
            raise ValueError(f"option {name} must be true or false")
        return value

    def texts(self, name: str) -> list[str]:
        value = self.values.get(name, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"option {name} must be a list of non-empty strings")
        return list(value)

    def mapping(self, name: str) -> dict[str, str]:
        value = self.values.get(name, {})
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()
        ):
            raise ValueError(f"option {name} must map strings to non-empty strings")
        return dict(value)
